"""Where a finding is, for the formats that pin findings to a file: SARIF (code scanning),
GitHub workflow commands (annotations) and GitLab Code Quality.

Those CI systems need a file and a line for every finding; GitHub's code scanning rejects a
SARIF result without one. So every finding gets a `Place`:

- **In the compose file** (a `compose` target whose `target.config_files` are known): the
  line of the service (`  web:` under `services:`) or network its subjects name first, in
  the compose file that defines it; line 1 of the first file when no subject is a key of
  any of them. The keys are found by scanning each file's text for the key under its
  top-level section: this locates a key, it does not parse the model (which comes from
  `docker compose config`). A file that cannot be read (a saved report rendered elsewhere)
  still gives its path, at line 1.
- **A placeholder** otherwise (`network` and `container` targets, a compose project known
  only from its containers' labels): the relative path `ddiag/KIND/NAME`, where KIND is the
  target's kind and NAME the target name the finding's subjects mention (else the first
  one), at line 1. No such file exists in a repository, and that is the point: GitHub
  matches a relative path against the repository's files and shows a result whose file is
  not there without a link (GitLab lists it by its path), while a URI of another scheme
  (`ddiag://...`) is not a repository path at all, and GitHub's upload refuses or ignores
  such locations. The path is stable from run to run (it depends on the target and the
  subjects only), so the CI system keeps tracking the finding as one alert.

Paths are relative to the current directory when the file is under it (CI systems resolve
them against the repository root: run ddiag from there), absolute otherwise.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from diag.report.model import ReportDoc

SECTIONS = ("services", "networks")
PLACEHOLDER_ROOT = "ddiag"
_SECTION = re.compile(r"^(?P<name>services|networks)\s*:\s*(?:#.*)?$")
_KEY = re.compile(r"^(?P<q>[\"']?)(?P<key>[A-Za-z0-9._-]+)(?P=q)\s*:(?:\s|$)")

Keys = dict[str, dict[str, tuple[int, int]]]


@dataclass(frozen=True)
class Place:
    """Where one finding is: `path` and `uri` name the file (or the placeholder), `line` and
    `column` count from 1, `kind` and `name` say what stands there (`service web`, `network
    back`, `compose shop`, or the target a placeholder stands for: `network shop_back`)."""

    path: str  # as GitHub's `file=` and GitLab's `location.path` take it
    uri: str  # as SARIF's `artifactLocation.uri` takes it: percent-encoded, or file://
    line: int
    column: int
    kind: str
    name: str
    in_file: bool  # False for a placeholder: no file by that path

    @property
    def what(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass
class ComposeFile:
    """A compose file as far as locating keys goes: its path, URI and where each service and
    network key is (line, column)."""

    path: str
    uri: str
    keys: Keys = field(default_factory=dict)


def locate_keys(text: str) -> Keys:
    """{"services": {name: (line, column)}, "networks": {...}} for the keys one level under
    the top-level `services:` and `networks:` of a compose file's text."""
    found: Keys = {section: {} for section in SECTIONS}
    section: str | None = None
    indent: int | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():  # a top-level key (or a document marker) ends a section
            match = _SECTION.match(line)
            section, indent = (match["name"] if match else None), None
            continue
        if section is None:
            continue
        lead = len(line) - len(line.lstrip())
        if indent is None:
            indent = lead
        match = _KEY.match(stripped)
        if lead == indent and match:
            found[section].setdefault(match["key"], (number, lead + 1))
    return found


def relative_path(path: str) -> str | None:
    """`path` relative to the current directory, with `/`, when it is under it; else None."""
    relative = os.path.relpath(Path(os.path.abspath(path)), Path.cwd())
    if relative == ".." or relative.startswith(".." + os.sep):
        return None
    return relative.replace(os.sep, "/")


def artifact_uri(path: str) -> str:
    """`path` relative to the current directory when it is under it, else a file:// URI."""
    relative = relative_path(path)
    return quote(relative) if relative is not None else Path(os.path.abspath(path)).as_uri()


def _compose_file(path: str) -> ComposeFile:
    try:
        keys = locate_keys(Path(path).read_text(encoding="utf-8", errors="replace"))
    except OSError:  # a saved report rendered where its compose file is not
        keys = {section: {} for section in SECTIONS}
    shown = relative_path(path) or os.path.abspath(path)
    return ComposeFile(shown, artifact_uri(path), keys)


class Places:
    """The place of each finding of one report (its compose files are read once)."""

    def __init__(self, doc: ReportDoc) -> None:
        self._doc = doc
        target = doc["target"]
        paths = (target.get("config_files") or []) if target["kind"] == "compose" else []
        self._files = [_compose_file(path) for path in paths]

    def of(self, finding: dict[str, Any]) -> Place:
        if not self._files:
            return self._placeholder(finding)
        for subject in finding["subjects"]:
            for file in self._files:
                for section, key in self._candidates(subject):
                    if key in file.keys.get(section, {}):
                        line, column = file.keys[section][key]
                        return Place(file.path, file.uri, line, column, section[:-1], key, True)
        first = self._files[0]
        return Place(first.path, first.uri, 1, 1, "compose", self._target_name(finding), True)

    def _candidates(self, subject: str) -> list[tuple[str, str]]:
        """(section, key) pairs a subject may be written as in the compose file: a service or
        network key as is, a container by its service, a network without its project prefix."""
        found = [("services", subject), ("networks", subject)]
        for network in self._doc["topology"]["networks"]:
            for member in network["members"]:
                if member["container"] == subject and member.get("service"):
                    found.append(("services", member["service"]))
        for project in self._doc["target"]["names"]:
            if subject.startswith(project + "_"):
                found.append(("networks", subject.removeprefix(project + "_")))
        return list(dict.fromkeys(found))

    def _target_name(self, finding: dict[str, Any]) -> str:
        """The target name the finding's subjects mention, else the target's first name."""
        names = self._doc["target"]["names"]
        mentioned = (subject for subject in finding["subjects"] if subject in names)
        return next(mentioned, names[0] if names else "")

    def _placeholder(self, finding: dict[str, Any]) -> Place:
        kind, name = self._doc["target"]["kind"], self._target_name(finding)
        # the name as one path segment, whatever a saved report holds (`/`, `..`, spaces)
        path = "/".join([PLACEHOLDER_ROOT, kind, *([quote(name, safe="")] if name else [])])
        return Place(path, path, 1, 1, kind, name, False)
