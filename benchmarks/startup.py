"""Whole-command no-change backup of a small and a large tree, hub-ops vs restic, and
hub-ops start-up.

    python -m benchmarks startup -- [--scale 0.07 --scale 1] [--work DIR] [--runs 3]

Most hubs have small homes, where a backup pod's time is mostly process start-up. Times,
for each tree and each of --runs runs: `hub-ops backup --help` (interpreter start and the
command's imports), then a no-change `hub-ops backup` and a no-change `restic backup` of
the same tree (the benchmarks/backup.py tree at --scale; 0.07 is ~3,600 files, 1 ~50k),
each a whole process as a backup pod runs it, after one first backup of each. Each figure
is wall seconds and, in brackets, the process's CPU seconds (user + system): on a shared
machine the CPU time moves less with the load than the wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.backup import Restic, ensure_restic, generate_tree


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(run, *args) -> tuple[float, float]:
    """(wall, CPU) seconds of `run(*args)`, which runs one child process to its end."""
    cpu, start = _cpu(), time.perf_counter()
    run(*args)
    return time.perf_counter() - start, _cpu() - cpu


# compiled modules are cached as an installed package's are (a pod's image has them), also
# where the environment says not to write them (this checkout's does)
INSTALLED_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _quiet(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=INSTALLED_ENV)


def bench_tree(work: Path, scale: float, runs: int) -> list[tuple]:
    tree = work / f"tree-{scale:g}"
    info = generate_tree(tree, scale)
    print(f"tree: {info['files']} files, {info['bytes'] / 1e6:.0f} MB at {tree}", flush=True)
    hub_ops = [str(Path(sys.executable).parent / "hub-ops"), "--fleet", str(work / "no-fleet")]
    dest = work / f"hub-ops-dest-{scale:g}"
    for old in (dest, work / f"restic-repo-{scale:g}"):
        shutil.rmtree(old, ignore_errors=True)
    ours = [*hub_ops, "backup", "--hub", "bench/small", "--source", str(tree), "--dest", str(dest)]
    restic = Restic(ensure_restic(), work / f"restic-repo-{scale:g}", work / "restic-cache")
    restic.run("init")
    _quiet(ours)
    restic.run("backup", str(tree))
    rows = []
    for _ in range(runs):
        help_s = timed(_quiet, [*hub_ops, "backup", "--help"])
        os.sync()  # as Restic.run does: no dirty pages left by the other tool
        ours_s = timed(_quiet, ours)
        cpu = _cpu()
        restic_s = restic.run("backup", str(tree))  # its own wall time, after its sync
        restic_s = (restic_s, _cpu() - cpu)
        rows.append((info["files"], help_s, ours_s, restic_s))
    return rows


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks startup", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, action="append", help="of benchmarks/backup.py's tree (1.0 = ~50k files); repeatable"
    )
    parser.add_argument("--work", type=Path, default=Path(".data/bench/startup"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print("note: a shared, busy machine: times are under its load at the moment of each run")
    rows = [row for scale in args.scale or [0.07, 1.0] for row in bench_tree(args.work.resolve(), scale, args.runs)]
    print(f"{'files':>6} {'backup --help s':>16} {'hub-ops no-change s':>20} {'restic no-change s':>19} {'ratio':>6}")
    for files, (help_s, help_cpu), (ours_s, ours_cpu), (restic_s, restic_cpu) in rows:
        print(
            f"{files:>6} {help_s:7.2f} ({help_cpu:4.2f} cpu) {ours_s:9.2f} ({ours_cpu:4.2f} cpu) "
            f"{restic_s:8.2f} ({restic_cpu:4.2f} cpu) {ours_s / restic_s:6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
