"""diag.engine.project_name: the project name `docker compose` gives a directory, guessed
before anything runs. Each expected name is what Compose v5 (`docker compose config
--format json`, `.name`) answered for the same files on the test machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from diag.engine.project_name import guess, normalized

SERVICES = "services:\n  a:\n    image: ddiag-test/busybox:latest\n"


def _project(
    root: Path, directory: str, compose: str = SERVICES, name: str = "compose.yaml"
) -> Path:
    where = root / directory
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_text(compose)
    return where


def _guess(
    cwd: Path,
    *files: str,
    directory: str | None = None,
    env_files: tuple[str, ...] = (),
    environ: str | None = None,
) -> str | None:
    return guess(list(files), directory, list(env_files), environ, cwd)


@pytest.mark.parametrize(
    ("raw", "compose_said"),
    [("My.App_Test-1", "myapp_test-1"), ("_-Lead Dir", "leaddir"), ("Explicit_N", "explicit_n")],
)
def test_names_are_normalized_as_compose_does(raw: str, compose_said: str) -> None:
    assert normalized(raw) == compose_said


def test_the_directory_of_the_compose_file_names_the_project(tmp_path: Path) -> None:
    where = _project(tmp_path, "My.App_Test-1")
    assert _guess(where) == "myapp_test-1"
    (where / "sub").mkdir()
    assert _guess(where / "sub") == "myapp_test-1"  # compose looks in the parents too


def test_a_top_level_name_wins_over_the_directory(tmp_path: Path) -> None:
    where = _project(tmp_path, "withname", 'name: "Explicit_N"  # c\n' + SERVICES)
    assert _guess(where) == "explicit_n"
    nested = _project(tmp_path, "nested", SERVICES + "  b:\n    name: not-top-level\n")
    assert _guess(nested) == "nested"


def test_compose_project_name_from_dotenv_wins_over_the_files_name(tmp_path: Path) -> None:
    where = _project(tmp_path, "both", "name: fromfile\n" + SERVICES)
    (where / ".env").write_text("# settings\nCOMPOSE_PROJECT_NAME=fromdotenv\n")
    assert _guess(where) == "fromdotenv"
    assert _guess(where, environ="FromCaller") == "fromcaller"  # the environment first
    (tmp_path / "other.env").write_text("export COMPOSE_PROJECT_NAME='given'\n")
    assert _guess(where, env_files=("../other.env",)) == "given"  # --env-file replaces .env


def test_files_and_project_directory_as_compose_takes_them(tmp_path: Path) -> None:
    _project(tmp_path, "other/deep", name="x.yml")
    withenv = _project(tmp_path, "withenv")
    (withenv / ".env").write_text("COMPOSE_PROJECT_NAME=fromenv\n")
    assert _guess(tmp_path, "other/deep/x.yml") == "deep"
    assert _guess(tmp_path, "other/deep/x.yml", directory="withenv") == "fromenv"
    override = _project(tmp_path, "other/deep", "name: last\n", name="override.yml")
    assert (
        _guess(tmp_path, "other/deep/x.yml", str(override.relative_to(tmp_path) / "override.yml"))
        == "last"
    )


@pytest.mark.parametrize(
    "compose",
    ["name: ${PROJECT:-shop}\n" + SERVICES, "name: &n shop\n" + SERVICES],
)
def test_what_this_reader_cannot_know_is_not_guessed(tmp_path: Path, compose: str) -> None:
    where = _project(tmp_path, "shop", compose)
    assert _guess(where) is None


def test_no_compose_file_or_stdin_is_no_guess(tmp_path: Path) -> None:
    assert _guess(tmp_path) is None
    assert _guess(tmp_path, "-") is None
    assert _guess(tmp_path, "missing.yml") is None
