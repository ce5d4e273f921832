"""What ddiag brings into every probe: the agent and the agent's Python dependencies.

Bringing them along (instead of requiring them in the image) is the probe image contract:
any image with python3 >= 3.10 works, and the agent always matches this CLI's version.
They are pure Python and work on any CPython >= 3.10.

They travel over the probe's stdin, which ddiag attaches to anyway to speak to the agent:
a short bootstrap reads them, writes a zip archive to the probe's tmpfs and imports from it.
Measured (issue 19), against the earlier way of carrying the zip base64-encoded in
environment variables: a 0.5 MB environment made the engine's create and start about
0.05 s slower, because the engine writes the container's configuration several times;
against copying an archive into a volume (`put_archive`), 0.3 s. The root filesystem
stays read-only either way.

Two archives are sent, and the bootstrap keeps one. Compiling dnspython from source cost
the agent 0.1 s of its one CPU at its first DNS task (issue 19: the agent is CPU-bound on
a healthy run), so the first archive holds, instead of each source, the bytecode this
interpreter already keeps in its `__pycache__` (pip writes it at install time). Bytecode
only loads in a Python of the same bytecode version (its magic number), so the bootstrap
compares magic numbers and keeps that archive only on a match; a probe image of another
Python keeps the second, the sources, and compiles them as it imports, as before. Nothing
is compiled here: a module with no fresh bytecode in `__pycache__` travels as source.
Both are made once per state of the sources and kept in ddiag's cache directory.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import threading
import zipfile
from pathlib import Path

import dns

from diag.agent import AGENT_PACKAGE

AGENT_DIR = Path(__file__).parent.parent / "agent"
SOURCES_PATH = "/tmp/ddiag-agent.zip"
COMPILED_PATH = "/tmp/ddiag-agent-compiled.zip"
# stdin: "MAGIC COMPILED_SIZE SOURCES_SIZE\n", the archive with bytecode, the sources'.
BOOTSTRAP = f"""\
import runpy, sys
from importlib.util import MAGIC_NUMBER
magic, compiled, sources = sys.stdin.buffer.readline().split()
compiled = sys.stdin.buffer.read(int(compiled))
sources = sys.stdin.buffer.read(int(sources))
path = "{SOURCES_PATH}"
if compiled and bytes.fromhex(magic.decode()) == MAGIC_NUMBER:
    path, sources = "{COMPILED_PATH}", compiled
with open(path, "wb") as out:
    out.write(sources)
sys.path.insert(0, path)
runpy.run_module("{AGENT_PACKAGE}", run_name="__main__", alter_sys=True)
"""
TIMESTAMP_PYC = 0  # pyc flags (PEP 552): validated against the source's mtime and size
CHECKED_HASH_PYC = 0b11
UNCHECKED_HASH_PYC = 0b01


def _sources(source: Path) -> list[Path]:
    return [path for path in sorted(source.rglob("*.py")) if "__pycache__" not in path.parts]


def _entry(name: str, compress_type: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))  # the same bytes on every run
    info.compress_type = compress_type
    return info


def cached_bytecode(path: Path, source: bytes) -> bytes | None:
    """The marshalled code of `path` from this interpreter's `__pycache__`, if it is there
    and still matches `source` (timestamp or checked-hash pycs; an unchecked one cannot
    tell, so it is not trusted)."""
    try:
        data = Path(importlib.util.cache_from_source(str(path))).read_bytes()
        stat = path.stat()
    except (OSError, NotImplementedError, ValueError):
        return None
    if len(data) < 16 or data[:4] != importlib.util.MAGIC_NUMBER:
        return None
    flags = int.from_bytes(data[4:8], "little")
    if flags == TIMESTAMP_PYC:
        fresh = int.from_bytes(data[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF and (
            int.from_bytes(data[12:16], "little") == stat.st_size & 0xFFFFFFFF
        )
    else:
        fresh = flags == CHECKED_HASH_PYC and data[8:16] == importlib.util.source_hash(source)
    return data[16:] if fresh else None


def _add_tree(archive: zipfile.ZipFile, source: Path, name: str, compiled: bool) -> None:
    """Each module of `source` as `name/...`: its source, or with `compiled` its cached
    bytecode where there is some (stored: deflating 1.7 MB would cost this process 0.03 s
    of CPU on every run, and the bytes only cross the engine's socket)."""
    for path in _sources(source):
        inner = f"{name}/{path.relative_to(source).as_posix()}"
        text = path.read_bytes()
        code = cached_bytecode(path, text) if compiled else None
        if code is None:
            archive.writestr(_entry(inner), text)
        else:  # unchecked: the source it was compiled from is not in the archive
            header = importlib.util.MAGIC_NUMBER + UNCHECKED_HASH_PYC.to_bytes(4, "little")
            archive.writestr(
                _entry(inner + "c", zipfile.ZIP_STORED),
                header + importlib.util.source_hash(text) + code,
            )


def _archive(compiled: bool) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _add_tree(archive, AGENT_DIR, AGENT_PACKAGE, compiled)
        _add_tree(archive, Path(dns.__file__).parent, "dns", compiled)
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def agent_zip() -> bytes:
    """`ddiag_agent/` and `dns/` as one zip of sources, importable with zipimport."""
    return _archive(compiled=False)


_payload: list[bytes] = []
_payload_lock = threading.Lock()
CACHE_PREFIX = "agent-payload-"


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ddiag"


def _fingerprint() -> str:
    """What the payload is made of: every source and its cached bytecode (path, size and
    modification time), and this interpreter's bytecode version."""
    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER)
    for tree in (AGENT_DIR, Path(dns.__file__).parent):
        for path in _sources(tree):
            for seen in (path, Path(importlib.util.cache_from_source(str(path)))):
                try:
                    stat = seen.stat()
                except OSError:
                    continue
                digest.update(f"{seen}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]


def _made() -> bytes:
    compiled, sources = _archive(compiled=True), agent_zip()
    header = f"{importlib.util.MAGIC_NUMBER.hex()} {len(compiled)} {len(sources)}\n"
    return header.encode("ascii") + compiled + sources


def _cached() -> bytes:
    """The payload from ddiag's cache directory, made and kept there when it is not (or
    not as the sources now are): making it cost 0.04 s of CPU on every run, while the
    engine starts the probes on the same CPUs; reading it costs 3 ms. A cache that cannot
    be read or written (a read-only home) is made without."""
    where = _cache_dir() / f"{CACHE_PREFIX}{_fingerprint()}.bin"
    try:
        return where.read_bytes()
    except OSError:
        pass
    payload = _made()
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        for old in where.parent.glob(f"{CACHE_PREFIX}*.bin"):
            old.unlink(missing_ok=True)
        partial = where.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(payload)
        partial.replace(where)  # whole or not at all, for a ddiag running alongside
    except OSError:
        pass
    return payload


def agent_payload() -> bytes:
    """What the bootstrap reads from stdin: a header line, then both archives. Made once
    per process; a caller that comes while another thread makes it waits for that one."""
    with _payload_lock:
        if not _payload:
            _payload.append(_cached())
        return _payload[0]
