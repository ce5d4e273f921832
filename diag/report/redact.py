"""Keep secrets out of every output: one pass over the report before any format sees it.

Five nets, in this order over every string of the document:

1. private key blocks and tokens of a known shape (`diag/report/secret_shapes.py`): AWS,
   GitHub, Slack, Stripe, Sentry, JWTs, ... wherever they turn up;
2. credentials in URLs (`scheme://user:secret@host`);
3. `Authorization` header values;
4. `NAME=value` / `NAME: value` pairs whose name looks secret (`is_secret_name`);
5. the literal values of secret-looking environment variables of every container read
   (`secret_values`), wherever they turn up: logs, health output, DNS answers.

The first four mask a secret where it stands *as a value*: their answer does not depend
on what the value is. The fifth masks by value, and sample stacks often use a password
equal to a name (`MYSQL_PASSWORD: wordpress` beside a service `wordpress`,
`POSTGRES_PASSWORD: postgres`): masking every occurrence would turn the service, its
containers, the project, its networks, the edges and the compose file path into `***`,
and a password `error` would even mask the findings' severities.

Decision: **names are spared, values are not.** The report's names (given through
`sparing()` by `Report.shown_names()`: the services, containers, projects, networks,
aliases, images, ids, drivers, states and compose file paths of the topology, plus ddiag's
own words that the schema holds to: its name, the target's kind, the probe mode, check
ids, titles and severities) shield the fifth net: an occurrence of a known value that lies
inside an occurrence of a name is left as it is; every other occurrence is masked. Hence:

- a secret that is no name and no part of one (`hunter2`) is masked everywhere, as
  before: it can lie inside no name's occurrence;
- a secret equal to a name is still masked in every value position (nets 1 to 4:
  `MYSQL_PASSWORD=***`, `mysql://wordpress:***@db`), and shown where it stands as the name;
  in free text (`login wordpress failed`) it cannot be told from the name, and the report
  shows the name anyway, so nothing is revealed that the topology does not already show;
- a secret that is only a part of a name (`press`) is masked everywhere except inside the
  names that contain it;
- a value that merely contains a name (`wordpress123`) is masked whole.

A pair whose name is a topology name and whose separator is a colon is not a secret pair:
`auth:8080` is a service `auth` and its port, and `auth:` in a compose snippet of a fix is
the service's key. Environment variable names are not names in this sense: sparing them
would let `DB_PASSWORD: x` through, and a secret equal to one is masked like any other.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator
from itertools import pairwise
from typing import Any

from diag.report.secret_shapes import MASK, mask_private_keys, mask_tokens

__all__ = ["MASK", "Redactor", "is_secret_name", "secret_values"]

SECRET_WORDS = {
    "password",
    "passwd",
    "pass",
    "pwd",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "credential",
    "credentials",
    "auth",
    "authorization",
    "apikey",
    "accesskey",
    "privatekey",
    "dsn",  # a data source name carries its credentials (a Sentry DSN is one)
}
SECRET_SUBSTRINGS = ("password", "passwd", "secret", "token")
NOT_SECRET = {"pwd", "oldpwd"}  # the shell's working directories
# The last word says the value is where a secret-holding service lives, or where the secret
# is kept, not the secret: `AUTH_HOST=auth-svc` names a service (masking it would mask the
# service's name across the report), `MYSQL_PASSWORD_FILE=/run/secrets/db` and
# `TLS_KEY_FILE` name files. Credentials inside an `AUTH_URL` are still masked as URL
# credentials.
LOCATION_WORDS = {
    "host",
    "hostname",
    "port",
    "addr",
    "address",
    "url",
    "uri",
    "endpoint",
    "server",
    "file",
    "path",
    "dir",
}
# `X_KEY` is a key (`STRIPE_KEY`, `ENCRYPTION_KEY`, `ssh-key`), unless the word before says
# it is a database's or a message's key, or a public one; `KEY` alone and `KEY_SIZE` are not.
KEY_WORDS = {"key", "keys"}
NOT_SECRET_KEYS = {
    "primary",
    "foreign",
    "sort",
    "partition",
    "routing",
    "cache",
    "hash",
    "shard",
    "idempotency",
    "public",
}
URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
AUTH_HEADER = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?P<scheme>bearer|basic|token|digest)\s+)?[^\s,;'\"]+",
    re.IGNORECASE,
)
SECRET_PAIR = re.compile(
    r"(?P<name>[\"']?\b[A-Za-z_][\w.-]*[\"']?)(?P<sep>\s*[=:]\s*)(?P<quote>[\"']*)"
    # A value ends at a blank or quote, and at `,`/`;` only where a new `key=`/`key:` (or a
    # blank) follows: `PASSWORD=hun,ter2` is one secret, `KEY=abc;retry=3` is two pairs. A
    # private key block is the first net's, which masks its body and keeps its markers.
    r"(?!-----BEGIN)(?P<value>[,;'\"]*[^\s'\",;]+(?:[,;](?![^\s'\",;]*[=:])[^\s'\",;]+)*)"
)
CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
MIN_SECRET_LEN = 4


def _words(name: str) -> list[str]:
    """`DB_PASSWORD`, `db-password`, `dbPassword` → ["db", "password"]."""
    spaced = CAMEL_HUMP.sub("_", name.strip("\"'"))
    return [word for word in re.split(r"[_\-.\s]+", spaced.lower()) if word]


def is_secret_name(name: str) -> bool:
    """`DB_PASSWORD`, `api-key`, `GithubToken`, `SENTRY_DSN`, `STRIPE_KEY` yes; `PWD`,
    `BYPASS_CACHE`, `author`, `PRIMARY_KEY`, `KEY_SIZE`, `TLS_KEY_FILE`, `KEYCLOAK_URL` no.

    Words are matched whole (after splitting on `_ - .` and camel humps), so `pass` does not
    hit `passing`; a few unambiguous words are matched anywhere (`dbpassword`).
    """
    words = _words(name)
    if not words or "".join(words) in NOT_SECRET:
        return False
    if len(words) > 1 and words[-1] in LOCATION_WORDS:
        return False
    pairs = {a + b for a, b in pairwise(words)}
    if SECRET_WORDS & (set(words) | pairs):
        return True
    if any(word in name.lower() for word in SECRET_SUBSTRINGS):
        return True
    return len(words) > 1 and words[-1] in KEY_WORDS and words[-2] not in NOT_SECRET_KEYS


def secret_values(env_maps: Iterable[dict[str, str]]) -> set[str]:
    """Values of secret-looking variables; short ones would mask innocent text."""
    return {
        value
        for env in env_maps
        for name, value in env.items()
        if is_secret_name(name) and len(value) >= MIN_SECRET_LEN
    }


class Redactor:
    """Masks a report document. `known_secrets` are masked by value; `names` (given by the
    report through `sparing()`) shield those values where they stand as names."""

    def __init__(self, known_secrets: Iterable[str] = (), names: Iterable[str] = ()) -> None:
        self.known = sorted({secret for secret in known_secrets if secret}, key=len, reverse=True)
        self.names = frozenset(name for name in names if name)
        # Only a name that holds a known secret can shield one: usually none.
        self.shields = [name for name in self.names if any(s in name for s in self.known)]

    def sparing(self, names: Collection[str]) -> Redactor:
        """The same secrets, with `names` (the report's own) spared."""
        return Redactor(self.known, self.names | set(names))

    def _pairs(self, value: str) -> str:
        """Mask the value of every secret-named pair, also inside other pairs' values
        (`DATABASE_URL=postgres://db/app?password=x`)."""

        def one(match: re.Match[str]) -> str:
            head = f"{match['name']}{match['sep']}{match['quote']}"
            if self._is_secret_pair(match):
                return head + (match["value"] if match["value"] == MASK else MASK)
            return head + self._pairs(match["value"])

        return SECRET_PAIR.sub(one, value)

    def _is_secret_pair(self, pair: re.Match[str]) -> bool:
        """A secret-looking name, unless it is a topology name before a colon: `auth:8080`,
        a compose snippet's `auth:`."""
        if pair["name"].strip("\"'") in self.names and "=" not in pair["sep"]:
            return False
        return is_secret_name(pair["name"])

    def _known_values(self, value: str) -> str:
        """Every occurrence of a known secret masked, but for those inside a name's."""
        found = [span for secret in self.known for span in _occurrences(secret, value)]
        if not found:  # most strings: no need to look for names
            return value
        shielded = [
            span for name in self.shields if name in value for span in _occurrences(name, value)
        ]
        masked = sorted(
            span
            for span in found
            if not any(start <= span[0] and span[1] <= end for start, end in shielded)
        )
        kept: list[str] = []
        position = 0
        for start, end in masked:
            if start >= position:
                kept += [value[position:start], MASK]
            position = max(position, end)
        return "".join([*kept, value[position:]])

    def text(self, value: str) -> str:
        value = "\n".join(mask_private_keys(value.split("\n")))
        value = mask_tokens(value)
        value = URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
        value = AUTH_HEADER.sub(
            lambda m: f"{m['head']}{m['scheme'] + ' ' if m['scheme'] else ''}{MASK}", value
        )
        value = self._pairs(value)
        return self._known_values(value) if self.known else value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            if all(isinstance(item, str) for item in value):  # lines of a log: keys span them
                value = mask_private_keys(value)
            return [self.value(item) for item in value]
        return value


def _occurrences(needle: str, text: str) -> Iterator[tuple[int, int]]:
    """Every (start, end) of `needle` in `text`, overlapping ones too."""
    start = text.find(needle)
    while start >= 0:
        yield start, start + len(needle)
        start = text.find(needle, start + 1)
