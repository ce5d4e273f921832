"""ddiag as users install it: the built wheel in a fresh virtualenv, and the ddiag image.

Both diagnose a real fixture stack with the installed program, never with this tree: the
wheel's `ddiag` runs from a directory outside the repository, the image holds its own
copy. Packages come from the registry (or pip's cache); the image is built from the local
python3 test image, since no container registry is reachable (scripts/build-image.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import docker
import pytest

from tests.integration.stacks import PROBE_IMAGE, ROOT, probes, running

FIXTURE = "compose-refused"  # one planted fault: port.refused, exit 1
IMAGE = "ddiag-test/ddiag:ci"
UNPRIVILEGED = 4321  # owner of the working directory the image writes its report into


def _run(*args: str | Path, cwd: Path | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


# What a build must not see: setuptools copies whatever an earlier build left in build/lib.
NOT_SOURCES = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel built from it, from a clean copy of this tree, as a
    release would be built."""
    source = tmp_path_factory.mktemp("source") / "ddiag"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, source)  # the sdist, then its wheel
    return out


def test_the_wheel_holds_one_import_package(dist: Path) -> None:
    [wheel] = dist.glob("ddiag-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        top = {name.split("/")[0] for name in archive.namelist()}
        assert {t for t in top if not t.endswith(".dist-info")} == {"diag"}
        assert "diag/checks/port/refused.py" in archive.namelist()
        assert any(name.endswith("licenses/LICENSE") for name in archive.namelist())


def test_the_installed_wheel_diagnoses_a_stack(
    dist: Path, tmp_path: Path, engine: docker.DockerClient
) -> None:
    [wheel] = dist.glob("ddiag-*.whl")
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin/pip", "install", "--quiet", wheel)
    outside = tmp_path / "elsewhere"  # not the repository: nothing of this tree is importable
    outside.mkdir()
    located = _run(venv / "bin/python", "-c", "import diag; print(diag.__file__)", cwd=outside)
    assert located.startswith(str(venv)), located
    with running(FIXTURE) as stack:
        env = {**os.environ, "DDIAG_PROBE_IMAGE": PROBE_IMAGE, "DDIAG_PULL": "never"}
        done = subprocess.run(
            [str(venv / "bin/ddiag"), *stack.command(), "--format", "json"],
            capture_output=True,
            text=True,
            cwd=outside,
            env=env,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert [f["check"] for f in json.loads(done.stdout)["findings"]] == ["port.refused"]
    assert probes(engine) == []


@pytest.fixture(scope="module")
def image() -> str:
    env = {**os.environ, "DDIAG_IMAGE_BASE": PROBE_IMAGE, "PYTHON": sys.executable}
    subprocess.run(
        ["bash", str(ROOT / "scripts/build-image.sh"), IMAGE],
        check=True,
        env=env,
        timeout=900,
        capture_output=True,
    )
    return IMAGE


def test_the_image_diagnoses_a_stack_unprivileged(
    image: str, tmp_path: Path, engine: docker.DockerClient
) -> None:
    """As the README runs it: the socket and the working directory mounted; the report is
    written by the working directory's owner, not by root."""
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, UNPRIVILEGED, UNPRIVILEGED)
    with running(FIXTURE) as stack:
        compose_file = stack.directory / "compose.yaml"
        done = subprocess.run(
            [
                "docker", "run", "--rm",
                "-v", "/var/run/docker.sock:/var/run/docker.sock",
                "-v", f"{work}:{work}", "-w", str(work),
                "-v", f"{compose_file}:{work}/compose.yaml:ro",
                "-e", f"DDIAG_PROBE_IMAGE={PROBE_IMAGE}", "-e", "DDIAG_PULL=never",
                image, "compose", "-p", stack.project, "--format", "json", "-o", "report.json",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    report = work / "report.json"
    assert report.stat().st_uid == UNPRIVILEGED
    assert [f["check"] for f in json.loads(report.read_text())["findings"]] == ["port.refused"]
    assert probes(engine) == []
