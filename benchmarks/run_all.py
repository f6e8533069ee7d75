"""Run every benchmark (``make bench``) and write ``benchmarks/results/SUMMARY.md``.

Each ``bench_*.py`` runs in its own process (so peak memory is its own), prints a table and writes
``benchmarks/results/<topic>.json``: the kit's figure, the reference's figure measured in the same run,
and their ratio. This script collects them into one Markdown summary with the machine stated.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {mem_gb:.0f} GiB memory, {platform.machine()}, "
            f"Python {platform.python_version()}")


def _rows(payload) -> list[dict]:
    if isinstance(payload, list):
        return payload
    for key in ("summary", "results", "rows", "cases"):   # a compact "summary" first, when a benchmark has one
        if isinstance(payload.get(key), list):
            return payload[key]
    return [payload]


def _table(rows: list[dict]) -> str:
    cols: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in cols and not isinstance(value, (dict, list)):
                cols.append(key)
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    only = set(argv if argv is not None else sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        topic = script.stem.removeprefix("bench_")
        if only and topic not in only:
            continue
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        print(f"   ({time.perf_counter() - start:.1f} s, exit {proc.returncode})", flush=True)
        if proc.returncode:
            failed.append(script.name)
    parts = ["# Benchmark summary", "", f"Machine: {machine()}.", ""]
    for path in sorted(RESULTS.glob("*.json")):
        payload = json.loads(path.read_text())
        parts += [f"## {path.stem}", ""]
        if isinstance(payload, dict) and payload.get("description"):
            parts += [payload["description"], ""]
        parts += [_table(_rows(payload)), ""]
    if failed:
        parts += ["Failed: " + ", ".join(failed), ""]
    (RESULTS / "SUMMARY.md").write_text("\n".join(parts))
    print(f"wrote {RESULTS / 'SUMMARY.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
