"""What ddiag brings into every probe: the agent and the agent's Python dependencies.

Bringing them along (instead of requiring them in the image) is the probe image contract:
any image with python3 >= 3.10 works, and the agent always matches this CLI's version.
Only sources are shipped; they are pure Python and work on any CPython >= 3.10.

They travel as a zip archive, base64-encoded in a few environment variables of the probe
(each under the kernel's 128 KiB limit for one string), and a short bootstrap writes it to
the probe's tmpfs and imports from it. Measured against copying an archive into a volume
before start (`put_archive`), this saves about 0.3 s of engine work per probe, and needs
no writable path in the image: the root filesystem stays read-only.
"""

from __future__ import annotations

import base64
import functools
import io
import zipfile
from pathlib import Path

import dns

from diag.agent import AGENT_PACKAGE

AGENT_DIR = Path(__file__).parent.parent / "agent"
ENV_PREFIX = "DDIAG_AGENT_"
CHUNK = 100_000  # characters per variable; Linux caps one env string at 128 KiB
ZIP_PATH = "/tmp/ddiag-agent.zip"
BOOTSTRAP = f"""\
import base64, os, runpy, sys
parts = [k for k in os.environ if k.startswith("{ENV_PREFIX}")]
parts.sort(key=lambda k: int(k[{len(ENV_PREFIX)}:]))
with open("{ZIP_PATH}", "wb") as out:
    out.write(base64.b64decode("".join(os.environ.pop(k) for k in parts)))
sys.path.insert(0, "{ZIP_PATH}")
runpy.run_module("{AGENT_PACKAGE}", run_name="__main__", alter_sys=True)
"""


def _add_tree(archive: zipfile.ZipFile, source: Path, name: str) -> None:
    for path in sorted(source.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        info = zipfile.ZipInfo(
            f"{name}/{path.relative_to(source).as_posix()}", (1980, 1, 1, 0, 0, 0)
        )
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())


@functools.lru_cache(maxsize=1)
def agent_zip() -> bytes:
    """`ddiag_agent/` and `dns/` as one zip, importable with zipimport."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _add_tree(archive, AGENT_DIR, AGENT_PACKAGE)
        _add_tree(archive, Path(dns.__file__).parent, "dns")
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def agent_environment() -> dict[str, str]:
    """The environment variables that carry the agent into a probe."""
    encoded = base64.b64encode(agent_zip()).decode("ascii")
    return {
        f"{ENV_PREFIX}{index}": encoded[start : start + CHUNK]
        for index, start in enumerate(range(0, len(encoded), CHUNK))
    }
