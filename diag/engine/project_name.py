"""The compose project name `ddiag compose` will diagnose, guessed from the files as
`docker compose` finds it, before anything is imported or run (diag.run.prelaunch).

Why: `ddiag compose` typed in a project's directory, without `-p`, is how most people run
it, and without a project name the probes asked for before the imports could not join the
project's bridges: the bridges anchor then started 0.4 s later, as a second container
(healthy 50-service stack: 1.74 s against 1.44 s with `-p`). `docker compose config`
gives the real name only 1.5 s into the run, so the guess follows compose's own rules,
checked against Compose v5 here: the first of `compose.yaml`, `compose.yml`,
`docker-compose.yaml`, `docker-compose.yml` in the working directory or the nearest
parent (or the first `-f` file); then `COMPOSE_PROJECT_NAME` from the environment (the
caller's), the `.env` file of the project directory (or the `--env-file`s), the last
top-level `name:` of the files, else the project directory's base name; lowercased, with
every character but `a-z 0-9 _ -` dropped and leading `_`/`-` stripped
(`My.App_Test-1` -> `myapp_test-1`, `name: "Explicit_N"` -> `explicit_n`).

A guess only: anything this reader does not model (a `name:` with `${...}`, a file on
stdin, an unreadable file) gives None, and then nothing is guessed. A wrong guess costs
an engine call that finds no network, or a probe that joined another project's bridges
for the run (diag.engine.early: it never changes a finding).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
_TOP_LEVEL_NAME = re.compile(r"^name:[ \t]*(?P<value>.*?)[ \t]*(?:[ \t]#.*)?$", re.MULTILINE)
_NOT_IN_A_NAME = re.compile(r"[^a-z0-9_-]")


def normalized(name: str) -> str:
    return _NOT_IN_A_NAME.sub("", name.lower()).lstrip("_-")


def _default_file(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        for name in DEFAULT_FILES:
            if (directory / name).is_file():
                return directory / name
    return None


def _env_value(path: Path, key: str) -> str | None:
    """`KEY=value` in a dotenv file (quotes stripped); None when absent or unreadable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    found = None
    for line in lines:
        name, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep and name.strip() == key:
            found = value.strip().strip("'\"")
    return found


def _top_level_name(text: str) -> str | None:
    """The last top-level `name:` of a compose file, None when there is none; ValueError
    when it is one this reader cannot know (interpolated, a YAML construct)."""
    found = None
    for match in _TOP_LEVEL_NAME.finditer(text):
        found = match.group("value").strip().strip("'\"")
        if not re.fullmatch(r"[\w.-]+", found):
            raise ValueError(found)
    return found


def guess(
    files: Sequence[str],
    project_directory: str | None,
    env_files: Sequence[str],
    environ_name: str | None,
    cwd: Path,
) -> str | None:
    """The project name compose would use for these options, or None (see the module)."""
    if environ_name:
        return normalized(environ_name) or None
    if files:
        if "-" in files:
            return None
        paths = [cwd / file for file in files]
    else:
        found = _default_file(cwd / project_directory if project_directory else cwd)
        if found is None:
            return None
        paths = [found]
    directory = cwd / project_directory if project_directory else paths[0].parent
    dotenvs = [cwd / file for file in env_files] or [directory / ".env"]
    for dotenv in reversed(dotenvs):
        value = _env_value(dotenv, "COMPOSE_PROJECT_NAME")
        if value:
            return normalized(value) or None
    name = None
    for path in paths:
        try:
            name = _top_level_name(path.read_text(encoding="utf-8")) or name
        except (OSError, ValueError):  # unreadable, not UTF-8, or a name not modelled here
            return None
    return normalized(name or directory.resolve().name) or None
