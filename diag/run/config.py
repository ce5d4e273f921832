"""Settings from the command line, the compose file's `x-ddiag` and `ddiag.toml`.

Keys (the same in both files; the command line has an option for each):

    select = ["dns", "port.refused"]       # run only these checks (ids or family prefixes)
    ignore = ["dns.ndots"]                 # skip these
    fail-on = "warning"                    # error | warning | info | never
    timeout = 3                            # seconds per DNS query / TCP connect
    probe-image = "nicolaka/netshoot"      # any image with python3 >= 3.10
    probe-mode = "isolated"                # shared (default) | isolated: see SECURITY.md
    deadline = 60                          # seconds for the whole run (default 120)

    [severity]                             # overrides: check id or family prefix -> level
    "dns.ndots" = "info"
    port = "warning"

A layer wins over the layers below it: the command line (with `DDIAG_*` variables) over
`x-ddiag` over `ddiag.toml` (in the current directory, or `--config FILE`) over the defaults.
Lists are replaced, not merged; severity overrides are merged key by key. The most specific
override applies to a finding (`port.refused` before `port`). Unknown keys are errors that
name the key and the file, except `expect` in x-ddiag, which belongs to `ddiag compose`'s
reachability rules (diag.model.expectations).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from diag.checks.registry import Check, all_checks, matches, select
from diag.errors import DiagError
from diag.model.findings import DEFAULT_FAIL_ON, FAIL_ON, Finding, Severity
from diag.probes.probe import DEFAULT_PROBE_IMAGE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_FILE = "ddiag.toml"
LEVELS = tuple(s.value for s in Severity)
KEYS = (
    "select",
    "ignore",
    "severity",
    "fail-on",
    "timeout",
    "probe-image",
    "probe-mode",
    "deadline",
)
PROBE_MODES = ("shared", "isolated")
NOT_OURS = ("expect",)  # in x-ddiag: read by diag.model.expectations (`ddiag compose` rules)
COMMAND_LINE = "the command line"
MIN_TIMEOUT = 0.1
DEFAULT_TIMEOUT = 2.0
DEFAULT_DEADLINE = 120.0
MIN_DEADLINE = 1.0

Layer = dict[str, Any]  # validated settings of one source, keys as in KEYS


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)
    fail_on: str = DEFAULT_FAIL_ON
    timeout: float = DEFAULT_TIMEOUT
    probe_image: str = DEFAULT_PROBE_IMAGE
    probe_mode: str = "shared"
    deadline: float = DEFAULT_DEADLINE
    sources: tuple[str, ...] = ()  # the files that contributed, for messages


def _where(key: str, source: str) -> str:
    return f"--{key}" if source == COMMAND_LINE else f"`{key}` in {source}"


def _patterns(value: Any, key: str, source: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise DiagError(
            f"{_where(key, source)} takes a list of check ids or families, e.g. "
            f'["dns", "port.refused"], not {value!r}.'
        )
    return tuple(i.strip() for i in items)


def _level(value: Any, what: str) -> Severity:
    if not isinstance(value, str) or value.lower() not in LEVELS:
        raise DiagError(f"{what} takes one of {', '.join(LEVELS)}, not {value!r}.")
    return Severity(value.lower())


def _severity(value: Any, source: str) -> dict[str, Severity]:
    if not isinstance(value, Mapping):
        raise DiagError(
            f"{_where('severity', source)} maps check ids or families to a level, e.g. "
            f'{{"dns.ndots": "info"}}, not {value!r}.'
        )
    return {
        str(pattern).rstrip("."): _level(
            level,
            f"--severity {pattern}="
            if source == COMMAND_LINE
            else f"`severity.{pattern}` in {source}",
        )
        for pattern, level in value.items()
    }


def parse_severity_options(items: Iterable[str]) -> dict[str, str]:
    """`--severity dns.ndots=info` (repeatable) → {"dns.ndots": "info"}."""
    parsed = {}
    for item in items:
        pattern, sep, level = item.partition("=")
        if not sep or not pattern.strip():
            raise DiagError(f"--severity takes CHECK=LEVEL, e.g. dns.ndots=info, not {item!r}.")
        parsed[pattern.strip()] = level.strip()
    return parsed


def parse_layer(raw: Mapping[str, Any], source: str, not_ours: Sequence[str] = ()) -> Layer:
    """Validate one source's settings; `source` names it in every message. Keys in
    `not_ours` belong to another reader of the same mapping and are left alone."""
    layer: Layer = {}
    for key, value in raw.items():
        if key in not_ours or value is None:
            continue
        if key not in KEYS:
            close = difflib.get_close_matches(key.replace("_", "-"), KEYS, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise DiagError(
                f"Unknown setting {key!r} in {source}.{hint} Known settings: {', '.join(KEYS)}."
            )
        if key in ("select", "ignore"):
            layer[key] = _patterns(value, key, source)
        elif key == "severity":
            layer[key] = _severity(value, source)
        elif key == "fail-on":
            if not isinstance(value, str) or value not in FAIL_ON:
                raise DiagError(
                    f"{_where(key, source)} takes one of {', '.join(FAIL_ON)}, not {value!r}."
                )
            layer[key] = value
        elif key in ("timeout", "deadline"):
            least = MIN_TIMEOUT if key == "timeout" else MIN_DEADLINE
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DiagError(f"{_where(key, source)} takes seconds (a number), not {value!r}.")
            if value < least:
                raise DiagError(f"{_where(key, source)} must be at least {least:g} s.")
            layer[key] = float(value)
        elif key == "probe-mode":
            if value not in PROBE_MODES:
                raise DiagError(
                    f"{_where(key, source)} takes one of {', '.join(PROBE_MODES)}, not {value!r}."
                )
            layer[key] = value
        elif key == "probe-image":
            if not isinstance(value, str) or not value.strip():
                raise DiagError(f"{_where(key, source)} takes an image name, not {value!r}.")
            layer[key] = value.strip()
    return layer


def read_toml(path: Path, required: bool) -> Layer | None:
    """`ddiag.toml` as a layer; None when it is absent and not `required` (--config)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise DiagError(f"The config file {path} does not exist.") from None
        return None
    except OSError as exc:
        raise DiagError(f"Cannot read the config file {path}: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DiagError(f"The config file {path} is not valid TOML: {exc}") from None
    return parse_layer(raw, str(path))


def compose_layer(settings: Any, files: Sequence[str]) -> Layer:
    """The compose file's top-level `x-ddiag` (ComposeProject.ddiag_settings) as a layer."""
    where = f"x-ddiag of {', '.join(files)}" if files else "x-ddiag of the compose file"
    if not isinstance(settings, Mapping):
        raise DiagError(
            f"The {where} must be a mapping of settings (e.g. `fail-on: warning`), "
            f"not {settings!r}."
        )
    return parse_layer(settings, where, not_ours=NOT_OURS)


def merge(*layers: Layer | None, sources: Sequence[str] = ()) -> Settings:
    """Layers from the lowest (ddiag.toml) to the highest (the command line)."""
    settings = Settings(sources=tuple(sources))
    severity: dict[str, Severity] = {}
    for layer in layers:
        if not layer:
            continue
        severity.update(layer.get("severity", {}))
        settings = replace(
            settings,
            select=layer.get("select", settings.select),
            ignore=layer.get("ignore", settings.ignore),
            fail_on=layer.get("fail-on", settings.fail_on),
            timeout=layer.get("timeout", settings.timeout),
            probe_image=layer.get("probe-image", settings.probe_image),
            probe_mode=layer.get("probe-mode", settings.probe_mode),
            deadline=layer.get("deadline", settings.deadline),
        )
    return replace(settings, severity=severity)


def check_patterns(settings: Settings, check_ids: Sequence[str]) -> None:
    """A `select`, `ignore` or severity pattern that matches no check is a typo (a CI job
    would otherwise silently run everything, or nothing less): say so, with close ids."""
    families = sorted({i.split(".", 1)[0] for i in check_ids})
    named = [
        *(("select", p) for p in settings.select),
        *(("ignore", p) for p in settings.ignore),
        *(("severity override", p) for p in settings.severity),
    ]
    for what, pattern in named:
        if not any(matches(check_id, pattern) for check_id in check_ids):
            close = difflib.get_close_matches(pattern, [*families, *check_ids], n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            raise DiagError(
                f"The {what} {pattern!r} matches no check.{hint} `ddiag checks` lists the ids."
            )


def select_checks(settings: Settings) -> list[Check]:
    """The checks a run uses: `select` minus `ignore`, with the severity overrides checked."""
    catalog = all_checks()
    check_patterns(settings, [check.id for check in catalog])
    checks = select(catalog, settings.select, settings.ignore)
    if not checks:
        files = f" (settings from {', '.join(settings.sources)})" if settings.sources else ""
        raise DiagError(
            f"--select/--ignore leave no check to run{files}; `ddiag checks` lists the ids."
        )
    return checks


def override(check_id: str, overrides: Mapping[str, Severity]) -> Severity | None:
    """The most specific override for a check: its id before its family."""
    found = [p for p in overrides if matches(check_id, p)]
    return overrides[max(found, key=len)] if found else None


def apply_severity(findings: Iterable[Finding], overrides: Mapping[str, Severity]) -> list[Finding]:
    result = []
    for finding in findings:
        level = override(finding.check, overrides)
        result.append(replace(finding, severity=level) if level else finding)
    return result


@dataclass(frozen=True)
class Sources:
    """Where settings come from for one run, before the compose model is known."""

    command_line: Layer
    config_file: Path | None = None  # --config FILE
    cwd: Path = field(default_factory=Path.cwd)

    def toml(self) -> tuple[Layer | None, list[str]]:
        path = self.config_file or self.cwd / CONFIG_FILE
        layer = read_toml(path, required=self.config_file is not None)
        return layer, [str(path)] if layer is not None else []

    def resolve(self, x_ddiag: Any = None, compose_files: Sequence[str] = ()) -> Settings:
        toml, sources = self.toml()
        compose = None
        if x_ddiag:
            compose = compose_layer(x_ddiag, compose_files)
            sources.append("x-ddiag")
        return merge(toml, compose, self.command_line, sources=sources)


def command_line_layer(
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    severity: Sequence[str] | None = None,
    fail_on: str | None = None,
    timeout: float | None = None,
    probe_image: str | None = None,
    probe_mode: str | None = None,
    deadline: float | None = None,
) -> Layer:
    """What was given on the command line (None: not given), validated like a file."""
    raw: dict[str, Any] = {
        "select": list(select) if select else None,
        "ignore": list(ignore) if ignore else None,
        "severity": parse_severity_options(severity) if severity else None,
        "fail-on": fail_on,
        "timeout": timeout,
        "probe-image": probe_image,
        "probe-mode": probe_mode,
        "deadline": deadline,
    }
    return parse_layer(raw, COMMAND_LINE)
