"""Agent entry point: tasks in (env DDIAG_TASKS), one JSON document out (stdout).

The task list arrives base64(zlib(JSON)) in an environment variable because the probe's
root filesystem is read-only and nothing else reaches a container before it starts.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

from .tasks import run_task

MIN_PYTHON = (3, 10)
EXIT_OLD_PYTHON = 3
MAX_WORKERS = 64


def decode_request(blob: str) -> dict:
    return json.loads(zlib.decompress(base64.b64decode(blob)))


def encode_request(request: dict) -> str:
    return base64.b64encode(zlib.compress(json.dumps(request).encode(), 9)).decode()


def main() -> int:
    if sys.version_info < MIN_PYTHON:
        print(
            f"ddiag agent needs python3 >= 3.10, found {platform.python_version()}", file=sys.stderr
        )
        return EXIT_OLD_PYTHON
    request = decode_request(os.environ["DDIAG_TASKS"])
    tasks = request["tasks"]
    timeout = float(request.get("timeout", 2.0))
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(tasks)))) as pool:
        results = list(pool.map(lambda task: run_task(task, timeout), tasks))
    json.dump(
        {
            "python": platform.python_version(),
            "results": dict(zip((t["id"] for t in tasks), results, strict=True)),
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
