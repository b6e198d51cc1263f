"""First backup of the benchmark tree by one worker vs N worker processes (parts.py).

    python -m benchmarks backup_workers -- [--scale 0.2] [--parallel-workers 2] [--runs 3]

Each run backs the tree (benchmarks/backup.py generates it) up into an empty local
destination twice through `hub-ops backup`, once plain and once with --parallel-workers N,
the order alternating between runs; wall time includes process starts, the plan and the
commit. Prints each run's times and the 1-minute load average before it: on a shared
2-core machine N workers can only win what one process leaves idle.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.backup import generate_tree


def _backup(tree: Path, dest: Path, workers: int) -> float:
    if dest.exists():
        shutil.rmtree(dest)
    command = [str(Path(sys.executable).parent / "hub-ops"), "backup", "--hub", "bench/hub"]
    command += ["--source", str(tree), "--dest", str(dest), "--json"]
    if workers > 1:
        command += ["--parallel-workers", str(workers)]
    os.sync()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks backup_workers", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2, help="1.0 = ~50k files, ~2.5 GB")
    parser.add_argument("--work", type=Path, default=Path(".data/bench/backup"))
    parser.add_argument("--parallel-workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    work = args.work.resolve()
    tree = work / f"tree-{args.scale:g}"
    info = generate_tree(tree, args.scale)
    print(f"tree: {info['users']} users, {info['files']} files, {info['bytes'] / 1e9:.2f} GB at {tree}")
    n = args.parallel_workers
    print(f"{'run':>4} {'load':>5} {'1 worker s':>11} {f'{n} workers s':>11} {'ratio':>6}")
    for run in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        order = (1, n) if run % 2 else (n, 1)
        times = {w: _backup(tree, work / f"workers-{w}", w) for w in order}
        print(f"{run:>4} {load:>5.2f} {times[1]:>11.2f} {times[n]:>11.2f} {times[1] / times[n]:>6.2f}")
    for w in (1, n):
        shutil.rmtree(work / f"workers-{w}", ignore_errors=True)
    return 0
