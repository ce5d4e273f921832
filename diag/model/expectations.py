"""Declared reachability: which services must and must not reach each other.

Rules come from the compose file's top-level `x-ddiag: {expect: [...]}` (ignored by
Compose) or from a file given with `--expect FILE` (TOML with `[[expect]]` tables, or JSON
with an `expect` list):

    x-ddiag:
      expect:
        - {from: web, to: "api:8000", reachable: true}
        - {from: web, to: db, reachable: false}
        - {from: "*", to: "db:5432", reachable: false}

`from` is a service or `*` (every other service); `to` is a service, container name or
alias, with an optional `:port`, or an address of a container on this engine playing
"the outside". Without a port, every port the target listens on counts. Every
`depends_on` and referenced edge is expected reachable unless a rule says otherwise.
Mistakes (unknown service, bad port, unknown key, wrong type) are a DiagError naming where.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diag.errors import DiagError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

RULE_KEYS = {"from", "to", "reachable"}


@dataclass(frozen=True)
class Rule:
    source: str  # a service, or "*"
    target: str
    port: int | None
    reachable: bool
    where: str  # "x-ddiag expect[2]": for messages and evidence

    def describe(self) -> str:
        port = f":{self.port}" if self.port else ""
        verb = "reaches" if self.reachable else "does not reach"
        return f"{self.source} {verb} {self.target}{port} ({self.where})"


def _port(text: str, where: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise DiagError(f"{where}: {text!r} is not a TCP port (1-65535).")
    return int(text)


def _split_target(value: str, where: str) -> tuple[str, int | None]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, None
    if not host:
        raise DiagError(f"{where}: `to` needs a service or address before ':{port}'.")
    return host, _port(port, where)


def parse_rules(raw: Any, origin: str) -> list[Rule]:
    """Validate the shape of `expect` rules; services are checked against the project later."""
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise DiagError(f"{origin}: `expect` must be a list of rules, not {type(raw).__name__}.")
    rules = []
    for index, item in enumerate(raw):
        where = f"{origin} expect[{index}]"
        if not isinstance(item, Mapping):
            raise DiagError(f"{where}: a rule is a mapping with from, to and reachable.")
        unknown = set(item) - RULE_KEYS
        if unknown:
            raise DiagError(
                f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                f"a rule has {', '.join(sorted(RULE_KEYS))}."
            )
        missing = RULE_KEYS - set(item)
        if missing:
            raise DiagError(f"{where}: missing {', '.join(sorted(missing))}.")
        if not isinstance(item["reachable"], bool):
            raise DiagError(f"{where}: `reachable` must be true or false.")
        if not isinstance(item["from"], str) or not isinstance(item["to"], (str, int)):
            raise DiagError(f"{where}: `from` and `to` must be strings.")
        target, port = _split_target(str(item["to"]), where)
        rules.append(Rule(item["from"], target, port, item["reachable"], where))
    return rules


def load_rules_file(path: Path) -> list[Rule]:
    """`--expect FILE`: TOML (`[[expect]]`) or JSON (`{"expect": [...]}`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DiagError(f"Cannot read --expect file {path}: {exc.strerror}.") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise DiagError(f"--expect file {path} is not valid {kind}: {exc}") from None
    if not isinstance(data, Mapping) or set(data) - {"expect"}:
        raise DiagError(f"{path}: the file holds one key, `expect`, a list of rules.")
    return parse_rules(data.get("expect"), str(path))


def check_services(rules: Sequence[Rule], services: Sequence[str], names: Set[str]) -> None:
    """Every `from` is a service (or *); every `to` is something this engine knows."""
    for rule in rules:
        if rule.source != "*" and rule.source not in services:
            raise DiagError(
                f"{rule.where}: `from: {rule.source}` is not a service of this project "
                f"(services: {', '.join(services)})."
            )
        if rule.target.lower() not in names:
            raise DiagError(
                f"{rule.where}: `to: {rule.target}` is no service, container, alias or "
                "container address on this engine."
            )
