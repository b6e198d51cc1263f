"""No-change backup over a filesystem with metadata latency: hub-ops (1 and N walk threads)
vs restic on the same FUSE mount, and the floor.

    python -m benchmarks walk -- [--files 10000] [--latency-ms 1] [--threads 32] [--runs 3]

Network homes (NFS, EFS, Filestore) answer each lookup, getattr and readdir after a round
trip, so a no-change backup is a walk that waits. The tree (tiny files: users of 5 folders
of 100 files) is served by hub_ops_dev/latency_fs.py, a FUSE passthrough that sleeps
--latency-ms on each of those calls. The first backup of each tool runs over the mount with
no latency; every timed run mounts afresh (cold kernel caches) and reports the calls the
filesystem answered. The floor is the calls of the run x latency / walk threads: what the
run would take if its requests were all that cost and --threads of them were always in
flight (files x latency / threads counts one call per file). A last round with no latency
shows what the mount itself costs (the FUSE server is Python: its calls share one GIL).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.backup import Restic, ensure_restic
from benchmarks.startup import INSTALLED_ENV


def generate_tree(root: Path, files: int) -> int:
    """Users of 5 folders of 100 tiny files each, reused when complete; the entry count."""
    marker = root / ".complete"
    if marker.exists():
        return int(marker.read_text())
    shutil.rmtree(root, ignore_errors=True)
    made = 0
    for u in range(max(1, files // 500)):
        for p in range(5):
            folder = root / f"user-{u:04d}" / f"project{p}"
            folder.mkdir(parents=True)
            for i in range(100):
                (folder / f"notes{i:03d}.txt").write_bytes(f"{u} {p} {i}\n".encode())
                made += 1
    marker.write_text(str(made))
    return made


def ensure_libfuse2() -> None:
    if not any(Path(d, "libfuse.so.2").exists() for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")):
        print("libfuse2 not found: apt-get install -y libfuse2", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "libfuse2"], check=True, stdout=subprocess.DEVNULL)


class Mount:
    """The tree through latency_fs at `mountpoint` for one run; `counts` after it."""

    def __init__(self, source: Path, mountpoint: Path, latency_ms: float):
        self.source, self.mountpoint, self.latency_ms = source, mountpoint, latency_ms
        self.counts: dict[str, int] = {}

    def __enter__(self) -> Mount:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        self._counts_file = self.mountpoint.with_suffix(".counts.json")
        self._counts_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "hub_ops_dev.latency_fs", str(self.source), str(self.mountpoint)]
        argv += ["--latency-ms", str(self.latency_ms), "--counts", str(self._counts_file)]
        self._proc = subprocess.Popen(argv, start_new_session=True)
        deadline = time.monotonic() + 30
        while not os.path.ismount(self.mountpoint):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"latency_fs did not mount {self.mountpoint} (exit {self._proc.poll()})")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        subprocess.run(["fusermount", "-u", str(self.mountpoint)], check=False, capture_output=True)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["umount", str(self.mountpoint)], check=False)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        if self._counts_file.exists():
            self.counts = json.loads(self._counts_file.read_text())


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=INSTALLED_ENV)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks walk", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=32, help="hub-ops --walk-threads")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-single", action="store_true", help="skip hub-ops with one walk thread (slow)")
    parser.add_argument("--work", type=Path, default=Path(".data/bench/walk"))
    args = parser.parse_args(argv)
    ensure_libfuse2()
    work = args.work.resolve()
    tree = work / f"tree-{args.files}"
    entries = generate_tree(tree, args.files)
    mnt = work / "mnt"
    print(f"tree: {entries} files at {tree}, served at {mnt} with {args.latency_ms:g} ms per metadata call")
    print("note: a shared 2-core machine: times are under its load at the moment of each run")
    for old in ("hub-ops-dest", "restic-repo", "restic-cache"):
        shutil.rmtree(work / old, ignore_errors=True)
    hub_ops = [str(Path(sys.executable).parent / "hub-ops"), "--fleet", str(work / "no-fleet"), "backup"]
    hub_ops += ["--hub", "bench/walk", "--source", str(mnt), "--dest", str(work / "hub-ops-dest")]
    restic = Restic(ensure_restic(), work / "restic-repo", work / "restic-cache")
    restic.run("init")
    with Mount(tree, mnt, 0):  # first backups: every file read, no latency
        timed(hub_ops)
        restic.run("backup", str(mnt))

    tools = {f"hub-ops --walk-threads {args.threads}": [*hub_ops, "--walk-threads", str(args.threads)]}
    if not args.no_single:
        tools["hub-ops --walk-threads 1"] = [*hub_ops, "--walk-threads", "1"]
    rows = []
    for run in range(1, args.runs + 1):
        for name, cmd in [*tools.items(), ("restic", None)]:
            with Mount(tree, mnt, args.latency_ms) as m:
                seconds = timed(cmd) if cmd else restic.run("backup", str(mnt))
            calls = sum(m.counts.values())
            rows.append((run, name, seconds, calls, m.counts))
    # the same runs with no latency: what the Python FUSE server and the tools cost alone
    for name, cmd in [*tools.items(), ("restic", None)]:
        with Mount(tree, mnt, 0) as m:
            seconds = timed(cmd) if cmd else restic.run("backup", str(mnt))
        rows.append(("0 ms", name, seconds, sum(m.counts.values()), m.counts))
    latency = args.latency_ms / 1000
    print(
        f"floor, one call per file: {entries} x {args.latency_ms:g} ms / {args.threads} = "
        f"{entries * latency / args.threads:.2f} s ({entries * latency:.1f} s with one thread)"
    )
    print(f"{'run':>4}  {'tool':<26} {'seconds':>8} {'calls':>8} {'calls x latency / threads':>26}  calls by kind")
    for run, name, seconds, calls, counts in rows:
        threads = args.threads if f"threads {args.threads}" in name else 1  # restic: as one at a time
        floor = "-" if run == "0 ms" else f"{calls * latency / threads:.2f} s / {threads}"
        print(f"{run!s:>4}  {name:<26} {seconds:8.2f} {calls:8d} {floor:>26}  {json.dumps(counts, sort_keys=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
