"""The image of the capture fixtures that need iptables inside a container.

There is no registry here and the probe image has no iptables, so the image is built
FROM the probe image with the host's own iptables (the nft backend binary, its three
libraries and its extensions) copied in: both are Debian bookworm. A host without them
cannot build it, and the tests that need it are skipped with that reason.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.integration.stacks import PROBE_IMAGE

IMAGE = "ddiagt-capture/iptables:latest"
BINARY = Path("/usr/sbin/xtables-nft-multi")
LIBRARIES = ("libxtables.so.12", "libmnl.so.0", "libnftnl.so.11")
LIBDIR = Path("/lib/x86_64-linux-gnu")
EXTENSIONS = Path("/usr/lib/x86_64-linux-gnu/xtables")
DOCKERFILE = f"""FROM {PROBE_IMAGE}
COPY lib/ /lib/x86_64-linux-gnu/
COPY xtables/ /usr/lib/x86_64-linux-gnu/xtables/
COPY xtables-nft-multi /usr/sbin/xtables-nft-multi
RUN ln -s xtables-nft-multi /usr/sbin/iptables
"""


def missing() -> str:
    """Why the image cannot be built here ("" when it can)."""
    needed = [BINARY, EXTENSIONS, *(LIBDIR / name for name in LIBRARIES)]
    absent = [str(path) for path in needed if not path.exists()]
    return f"the host lacks {', '.join(absent)}" if absent else ""


def build() -> None:
    """Build the image (a few seconds; nothing is downloaded)."""
    with tempfile.TemporaryDirectory() as context:
        root = Path(context)
        (root / "lib").mkdir()
        shutil.copy(BINARY, root / BINARY.name)
        for name in LIBRARIES:
            shutil.copy(LIBDIR / name, root / "lib" / name)  # follows the .so link
        shutil.copytree(EXTENSIONS, root / "xtables")
        (root / "Dockerfile").write_text(DOCKERFILE)
        subprocess.run(
            ["docker", "build", "-q", "-t", IMAGE, str(root)],
            check=True,
            capture_output=True,
            timeout=300,
        )
