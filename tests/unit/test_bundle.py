"""The agent's payload: its header, its two archives, the bytecode it carries, and the
bootstrap that picks one archive (run here in a child interpreter, without docker)."""

from __future__ import annotations

import collections
import importlib.util
import io
import marshal
import os
import py_compile
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from diag.agent import AGENT_PACKAGE
from diag.probes import bundle

MAGIC = importlib.util.MAGIC_NUMBER


def _split(payload: bytes) -> tuple[str, bytes, bytes]:
    """The payload's magic (hex), its archive with bytecode and its archive of sources."""
    header, _, rest = payload.partition(b"\n")
    magic, compiled_size, sources_size = header.decode("ascii").split()
    compiled = rest[: int(compiled_size)]
    return magic, compiled, rest[int(compiled_size) : int(compiled_size) + int(sources_size)]


def _names(archive: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        assert zipped.testzip() is None
        return zipped.namelist()


def _module(name: str) -> str:
    """The module an archive entry holds, whether as source or as bytecode."""
    return name[:-1] if name.endswith(".pyc") else name


def test_payload_header_gives_this_interpreters_magic_and_both_archives_sizes() -> None:
    """The bootstrap reads exactly the sizes of the header from stdin: they must add up,
    and the second archive must be the plain sources (what another Python falls back on)."""
    payload = bundle.agent_payload()
    header = payload.partition(b"\n")[0]
    magic, compiled, sources = _split(payload)
    assert magic == MAGIC.hex()
    assert len(header) + 1 + len(compiled) + len(sources) == len(payload)
    assert sources == bundle.agent_zip()
    for archive in (compiled, sources):
        modules = {_module(name) for name in _names(archive)}
        assert f"{AGENT_PACKAGE}/__main__.py" in modules
        assert {"dns/__init__.py", "dns/message.py"} <= modules


def test_compiled_archive_holds_each_module_once_as_unchecked_bytecode_or_source() -> None:
    """zipimport prefers neither form reliably if both were there, and an unchecked pyc is
    the only kind it loads without the source beside it."""
    _, compiled, sources = _split(bundle.agent_payload())
    names = _names(compiled)
    counts = collections.Counter(_module(name) for name in names)
    assert all(count == 1 for count in counts.values()), counts
    assert set(counts) == set(_names(sources))
    with (
        zipfile.ZipFile(io.BytesIO(compiled)) as zipped,
        zipfile.ZipFile(io.BytesIO(sources)) as plain,
    ):
        for name in names:
            if not name.endswith(".pyc"):
                continue
            data = zipped.read(name)
            assert data[:4] == MAGIC, name
            assert int.from_bytes(data[4:8], "little") == 0b01, name
            assert data[8:16] == importlib.util.source_hash(plain.read(_module(name))), name
            assert isinstance(marshal.loads(data[16:]), types.CodeType), name


def test_compiled_archive_takes_fresh_bytecode_and_sends_the_rest_as_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is compiled for the payload: a module without fresh bytecode in
    `__pycache__` travels as its source, and `__pycache__` itself never travels."""
    (tmp_path / "fresh.py").write_text("X = 1\n")
    (tmp_path / "plain.py").write_text("Y = 2\n")
    py_compile.compile(
        str(tmp_path / "fresh.py"), invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP
    )
    monkeypatch.setattr(bundle, "AGENT_DIR", tmp_path)
    agent = [
        name for name in _names(bundle._archive(compiled=True)) if name.startswith(AGENT_PACKAGE)
    ]
    assert sorted(agent) == [f"{AGENT_PACKAGE}/fresh.pyc", f"{AGENT_PACKAGE}/plain.py"]


def _module_file(tmp_path: Path, text: str = "VALUE = 1\n") -> Path:
    path = tmp_path / "mod.py"
    path.write_text(text)
    return path


def _compile(path: Path, mode: py_compile.PycInvalidationMode) -> None:
    """Into `__pycache__`, where cache_from_source looks (the mode explicit: py_compile's
    default turns to checked-hash when SOURCE_DATE_EPOCH is set)."""
    py_compile.compile(str(path), invalidation_mode=mode, doraise=True)
    assert Path(importlib.util.cache_from_source(str(path))).exists()


def test_cached_bytecode_of_a_fresh_timestamp_pyc_is_its_code(tmp_path: Path) -> None:
    """pip writes timestamp pycs: the ones the payload mostly carries."""
    path = _module_file(tmp_path)
    _compile(path, py_compile.PycInvalidationMode.TIMESTAMP)
    code = bundle.cached_bytecode(path, path.read_bytes())
    assert code is not None
    assert isinstance(marshal.loads(code), types.CodeType)


def test_cached_bytecode_of_a_stale_timestamp_pyc_is_none(tmp_path: Path) -> None:
    """A source edited since it was compiled (size and mtime changed) must travel as
    source: its old bytecode would run the old code in the probe."""
    path = _module_file(tmp_path)
    _compile(path, py_compile.PycInvalidationMode.TIMESTAMP)
    mtime = int(path.stat().st_mtime)
    path.write_text("VALUE = 'changed'\n")
    os.utime(path, (mtime + 10, mtime + 10))
    assert bundle.cached_bytecode(path, path.read_bytes()) is None


def test_cached_bytecode_of_a_checked_hash_pyc_follows_the_sources_hash(tmp_path: Path) -> None:
    """A checked-hash pyc says which source it was made from: fresh while the source has
    that hash, stale once the source changes."""
    path = _module_file(tmp_path)
    _compile(path, py_compile.PycInvalidationMode.CHECKED_HASH)
    code = bundle.cached_bytecode(path, path.read_bytes())
    assert code is not None
    assert isinstance(marshal.loads(code), types.CodeType)
    path.write_text("VALUE = 'changed'\n")
    assert bundle.cached_bytecode(path, path.read_bytes()) is None


def test_cached_bytecode_does_not_trust_an_unchecked_hash_pyc(tmp_path: Path) -> None:
    """Its hash is never compared on import, so nothing says it matches the source."""
    path = _module_file(tmp_path)
    _compile(path, py_compile.PycInvalidationMode.UNCHECKED_HASH)
    assert bundle.cached_bytecode(path, path.read_bytes()) is None


def test_cached_bytecode_without_a_pyc_is_none(tmp_path: Path) -> None:
    """Nothing is compiled for the payload: no pyc, no bytecode."""
    path = _module_file(tmp_path)
    assert bundle.cached_bytecode(path, path.read_bytes()) is None


RUN_AGENT = f'runpy.run_module("{AGENT_PACKAGE}", run_name="__main__", alter_sys=True)'
SHOW_IMPORTS = f"""\
import {AGENT_PACKAGE}.tasks, dns.message
print(path)
print(sys.modules["{AGENT_PACKAGE}.tasks"].__spec__.origin)
print(sys.modules["dns.message"].__spec__.origin)"""


def _bootstrap(tmp_path: Path, payload: bytes) -> tuple[Path, list[str]]:
    """BOOTSTRAP in a child of this interpreter, writing into `tmp_path` and importing
    from the archive it chose instead of starting the agent: the path it chose, and the
    files the agent's tasks and dnspython's message were imported from."""
    assert RUN_AGENT in bundle.BOOTSTRAP
    assert bundle.SOURCES_PATH in bundle.BOOTSTRAP and bundle.COMPILED_PATH in bundle.BOOTSTRAP
    script = (
        bundle.BOOTSTRAP.replace(RUN_AGENT, SHOW_IMPORTS)
        .replace(bundle.COMPILED_PATH, str(tmp_path / "compiled.zip"))
        .replace(bundle.SOURCES_PATH, str(tmp_path / "sources.zip"))
    )
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=payload,
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    chosen, *origins = done.stdout.decode().split()
    return Path(chosen), origins


def test_bootstrap_keeps_the_bytecode_in_a_python_of_the_same_magic(tmp_path: Path) -> None:
    """The same interpreter has the same magic number: the archive with bytecode is the
    one written and imported from."""
    chosen, origins = _bootstrap(tmp_path, bundle.agent_payload())
    assert chosen == tmp_path / "compiled.zip"
    assert not (tmp_path / "sources.zip").exists()
    assert all(origin.startswith(str(chosen) + os.sep) for origin in origins), origins


def test_bootstrap_keeps_the_sources_in_a_python_of_another_magic(tmp_path: Path) -> None:
    """Bytecode of another bytecode version would not load: a probe whose Python has
    another magic number writes the sources and compiles them."""
    magic, compiled, sources = _split(bundle.agent_payload())
    other = bytes([MAGIC[0] ^ 0xFF]) + MAGIC[1:]
    assert other.hex() != magic
    header = f"{other.hex()} {len(compiled)} {len(sources)}\n".encode("ascii")
    chosen, origins = _bootstrap(tmp_path, header + compiled + sources)
    assert chosen == tmp_path / "sources.zip"
    assert not (tmp_path / "compiled.zip").exists()
    assert all(origin.startswith(str(chosen) + os.sep) for origin in origins), origins
    assert all(origin.endswith(".py") for origin in origins), origins


def test_the_payload_is_kept_in_the_cache_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Made once, then read: making it on every run cost 0.04 s of CPU while the probes
    start."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    made = bundle._cached()
    kept = list((tmp_path / "ddiag").glob("agent-payload-*.bin"))
    assert len(kept) == 1 and kept[0].read_bytes() == made

    def not_again() -> bytes:
        raise AssertionError("made again although it is cached")

    monkeypatch.setattr(bundle, "_made", not_again)
    assert bundle._cached() == made


def test_a_changed_source_makes_a_new_payload_and_drops_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    module = agent / "mod.py"
    module.write_text("X = 1\n")
    monkeypatch.setattr(bundle, "AGENT_DIR", agent)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = bundle._fingerprint()
    bundle._cached()
    module.write_text("X = 22\n")
    os.utime(module, ns=(1, 1))
    assert bundle._fingerprint() != first
    bundle._cached()
    kept = list((tmp_path / "cache" / "ddiag").glob("agent-payload-*.bin"))
    assert [path.name for path in kept] == [f"agent-payload-{bundle._fingerprint()}.bin"]


def test_without_a_writable_cache_the_payload_is_made_all_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert bundle._cached() == bundle._made()
