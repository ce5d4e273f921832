"""Keep secrets out of every output: one pass over the report before any format sees it.

Three nets: credentials in URLs (`scheme://user:secret@host`), `NAME=value` pairs whose
name looks secret, and the literal values of secret-looking environment variables of the
containers involved, wherever they turn up (logs, health output, DNS answers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
SECRET_NAME = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|pwd)",
    re.IGNORECASE,
)
URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
SECRET_PAIR = re.compile(r"\b(?P<name>[A-Za-z_][\w.-]*)(?P<sep>\s*[=:]\s*)(?P<value>[^\s,;'\"]+)")
MIN_SECRET_LEN = 4


def secret_values(env_maps: Iterable[dict[str, str]]) -> set[str]:
    """Values of secret-looking variables; short ones would mask innocent text."""
    return {
        value
        for env in env_maps
        for name, value in env.items()
        if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LEN
    }


class Redactor:
    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        self.known = sorted(set(known_secrets), key=len, reverse=True)

    def text(self, value: str) -> str:
        value = URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
        value = SECRET_PAIR.sub(
            lambda m: f"{m['name']}{m['sep']}{MASK}" if SECRET_NAME.search(m["name"]) else m[0],
            value,
        )
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
