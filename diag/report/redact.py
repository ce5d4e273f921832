"""Keep secrets out of every output: one pass over the report before any format sees it.

Three nets: credentials in URLs (`scheme://user:secret@host`), `NAME=value` pairs whose
name looks secret, and the literal values of secret-looking environment variables of the
containers involved, wherever they turn up (logs, health output, DNS answers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

MASK = "***"
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
    "privatekey",
}
SECRET_SUBSTRINGS = ("password", "passwd", "secret", "token")
NOT_SECRET = {"pwd", "oldpwd"}  # the shell's working directories
# The last word says the value is where a secret-holding service lives, not a secret:
# `AUTH_HOST=auth-svc` names a service (masking it would mask the service's name across
# the report); credentials inside an `AUTH_URL` are still masked as URL credentials.
LOCATION_WORDS = {"host", "hostname", "port", "addr", "address", "url", "uri", "endpoint", "server"}
URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
AUTH_HEADER = re.compile(
    r"(?P<head>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?P<scheme>bearer|basic|token|digest)\s+)?[^\s,;'\"]+",
    re.IGNORECASE,
)
SECRET_PAIR = re.compile(
    r"(?P<name>[\"']?\b[A-Za-z_][\w.-]*[\"']?)(?P<sep>\s*[=:]\s*)(?P<quote>[\"']*)"
    # A value ends at a blank or quote, and at `,`/`;` only where a new `key=`/`key:` (or a
    # blank) follows: `PASSWORD=hun,ter2` is one secret, `KEY=abc;retry=3` is two pairs.
    r"(?P<value>[,;'\"]*[^\s'\",;]+(?:[,;](?![^\s'\",;]*[=:])[^\s'\",;]+)*)"
)
MIN_SECRET_LEN = 4


def is_secret_name(name: str) -> bool:
    """`DB_PASSWORD`, `api-key`, `GithubToken` yes; `PWD`, `BYPASS_CACHE`, `author` no.

    Words are matched whole (after splitting on `_ - .`), so `pass` does not hit `passing`;
    a few unambiguous words are matched anywhere (`dbpassword`).
    """
    lowered = name.strip("\"'").lower()
    if lowered in NOT_SECRET:
        return False
    parts = [part for part in re.split(r"[_\-.\s]+", lowered) if part]
    if len(parts) > 1 and parts[-1] in LOCATION_WORDS:
        return False
    pairs = {a + b for a, b in pairwise(parts)}
    return bool(
        SECRET_WORDS & (set(parts) | pairs) or any(word in lowered for word in SECRET_SUBSTRINGS)
    )


def secret_values(env_maps: Iterable[dict[str, str]]) -> set[str]:
    """Values of secret-looking variables; short ones would mask innocent text."""
    return {
        value
        for env in env_maps
        for name, value in env.items()
        if is_secret_name(name) and len(value) >= MIN_SECRET_LEN
    }


class Redactor:
    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        self.known = sorted(set(known_secrets), key=len, reverse=True)

    def _pairs(self, value: str) -> str:
        """Mask the value of every secret-named pair, also inside other pairs' values
        (`DATABASE_URL=postgres://db/app?password=x`)."""

        def one(match: re.Match[str]) -> str:
            head = f"{match['name']}{match['sep']}{match['quote']}"
            if is_secret_name(match["name"]):
                return head + (match["value"] if match["value"] == MASK else MASK)
            return head + self._pairs(match["value"])

        return SECRET_PAIR.sub(one, value)

    def text(self, value: str) -> str:
        value = URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
        value = AUTH_HEADER.sub(
            lambda m: f"{m['head']}{m['scheme'] + ' ' if m['scheme'] else ''}{MASK}", value
        )
        value = self._pairs(value)
        for secret in self.known:
            value = value.replace(secret, MASK)
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(item) for item in value]
        return value
