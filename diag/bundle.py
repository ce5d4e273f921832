"""The archive ddiag copies into every probe: the agent and the agent's Python dependencies.

Bringing them along (instead of requiring them in the image) is the probe image contract:
any image with python3 >= 3.10 works, and the agent always matches this CLI's version.
Only sources are shipped; they are pure Python and work on any CPython >= 3.10.
"""

from __future__ import annotations

import functools
import io
import tarfile
from pathlib import Path

import dns

from diag.agent import AGENT_PACKAGE

AGENT_DIR = Path(__file__).parent / "agent"
BUNDLE_ROOT = "/opt/ddiag"


def _add_tree(archive: tarfile.TarFile, source: Path, name: str) -> None:
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        info = archive.gettarinfo(str(path), arcname=f"{name}/{path.relative_to(source)}")
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mode = 0o644
        info.mtime = 0
        with path.open("rb") as handle:
            archive.addfile(info, handle)


@functools.lru_cache(maxsize=1)
def agent_bundle() -> bytes:
    """A gzip'd tar of `ddiag_agent/` and `dns/`, extracted at BUNDLE_ROOT in the probe."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        _add_tree(archive, AGENT_DIR, AGENT_PACKAGE)
        _add_tree(archive, Path(dns.__file__).parent, "dns")
    return buffer.getvalue()
