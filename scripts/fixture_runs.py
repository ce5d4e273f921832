"""Save the JSON report of every compose fixture, to compare two versions of ddiag.

A refactor must not change what any fixture finds. Run this once on the old tree and once
on the new one, then `python scripts/fixture_runs.py --compare OLD NEW`: it prints every
finding that differs in check, severity, subjects, summary, fix or evidence keys (evidence
values carry addresses and timings that change from run to run, so only their keys count),
and exits 1 when any does. Addresses, ephemeral ports, container ids and start times are
masked first: they differ from one run of the same fixture to the next.

    python scripts/fixture_runs.py --code /path/to/tree OUT_DIR [FIXTURE...]
    python scripts/fixture_runs.py --compare OLD_DIR NEW_DIR

`--code` is the tree whose `diag` runs (default: this one); the fixtures and the stack
helpers always come from this tree. Needs the test bed (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.stacks import ddiag, fixture_names, running  # noqa: E402


def _save(code: Path, out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        with running(name) as stack:
            result = ddiag(*stack.command(), "--format", "json", cwd=code)
        (out / f"{name}.json").write_text(result.stdout)
        print(f"{name}: exit {result.returncode}", flush=True)
        (out / f"{name}.exit").write_text(f"{result.returncode}\n")


# What differs from one run of the same fixture to the next: the addresses IPAM hands out
# (in start order), ephemeral host ports, container ids, start times.
RUN_TO_RUN = [
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+Z"), "<time>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<ip>"),
    (re.compile(r"\b[0-9a-f]{12,64}\b"), "<id>"),
    (re.compile(r"\b3[2-9]\d{3}\b"), "<port>"),
]


def _steady(value: Any) -> str:
    text = str(value)
    for pattern, placeholder in RUN_TO_RUN:
        text = pattern.sub(placeholder, text)
    return text


def _shape(finding: dict[str, Any]) -> tuple[Any, ...]:
    return (
        finding["check"],
        finding["severity"],
        _steady(finding["subjects"]),
        _steady(finding["summary"]),
        _steady(finding["fix"]),
        tuple(sorted(finding["evidence"])),
    )


def _compare(old: Path, new: Path) -> int:
    differs = 0
    for before_path in sorted(old.glob("*.json")):
        after_path = new / before_path.name
        name = before_path.stem
        if not after_path.exists():
            print(f"{name}: missing in {new}")
            differs += 1
            continue
        before = json.loads(before_path.read_text() or "{}").get("findings", [])
        after = json.loads(after_path.read_text() or "{}").get("findings", [])
        gone = sorted(set(map(_shape, before)) - set(map(_shape, after)))
        added = sorted(set(map(_shape, after)) - set(map(_shape, before)))
        exits = [(p / f"{name}.exit").read_text().strip() for p in (old, new)]
        if gone or added or exits[0] != exits[1]:
            differs += 1
            print(f"{name}: exit {exits[0]} -> {exits[1]}")
            for shape in gone:
                print(f"  - {shape}")
            for shape in added:
                print(f"  + {shape}")
        else:
            print(f"{name}: {len(before)} findings, identical; exit {exits[0]}")
    return 1 if differs else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), type=Path)
    parser.add_argument("--code", type=Path, default=ROOT)
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("fixtures", nargs="*")
    args = parser.parse_args()
    if args.compare:
        return _compare(*args.compare)
    if args.out is None:
        parser.error("OUT_DIR is needed unless --compare")
    _save(args.code.resolve(), args.out, args.fixtures or fixture_names())
    return 0


if __name__ == "__main__":
    sys.exit(main())
