"""Whole-command no-change backup of a small tree, hub-ops vs restic, and hub-ops start-up.

    python -m benchmarks startup -- [--scale 0.07] [--work DIR] [--runs 3]

Most hubs have small homes, where a backup pod's time is mostly process start-up. Times,
for each of --runs runs: `hub-ops backup --help` (interpreter start and the command's
imports), then a no-change `hub-ops backup` and a no-change `restic backup` of the same
tree (the benchmarks/backup.py tree at --scale; 0.07 is ~3,600 files), each a whole process
as a backup pod runs it, after one first backup of each.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.backup import Restic, ensure_restic, generate_tree


def timed(argv: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks startup", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.07, help="of benchmarks/backup.py's tree (1.0 = ~50k files)")
    parser.add_argument("--work", type=Path, default=Path(".data/bench/startup"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    work = args.work.resolve()
    tree = work / f"tree-{args.scale:g}"
    info = generate_tree(tree, args.scale)
    print(f"tree: {info['files']} files, {info['bytes'] / 1e6:.0f} MB at {tree}")
    print("note: a shared, busy machine: times are under its load at the moment of each run")
    hub_ops = [str(Path(sys.executable).parent / "hub-ops"), "--fleet", str(work / "no-fleet")]
    dest = work / "hub-ops-dest"
    for old in (dest, work / "restic-repo"):
        shutil.rmtree(old, ignore_errors=True)
    ours = [*hub_ops, "backup", "--hub", "bench/small", "--source", str(tree), "--dest", str(dest)]
    restic = Restic(ensure_restic(), work / "restic-repo", work / "restic-cache")
    restic.run("init")
    timed(ours)
    restic.run("backup", str(tree))
    rows = []
    for _ in range(args.runs):
        help_s = timed([*hub_ops, "backup", "--help"])
        ours_s = timed(ours)
        restic_s = restic.run("backup", str(tree))
        rows.append((help_s, ours_s, restic_s))
    print(f"{'run':>3} {'backup --help s':>16} {'hub-ops no-change s':>20} {'restic no-change s':>19} {'ratio':>6}")
    for i, (help_s, ours_s, restic_s) in enumerate(rows, 1):
        print(f"{i:>3} {help_s:16.2f} {ours_s:20.2f} {restic_s:19.2f} {ours_s / restic_s:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
