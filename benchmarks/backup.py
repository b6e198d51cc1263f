"""Backup engine vs restic, side by side on one generated tree of home directories.

    python -m benchmarks backup -- [--scale 1.0] [--work DIR] [--keep]

The tree (at --scale 1): ~200 users, ~50k files, ~2.5 GB: a shared course folder (the same
80 files) in 75% of homes, personal notebooks/scripts/CSVs (compressible text) and images
(incompressible), and a dozen 90-200 MiB datasets. Generated once per scale and seed under
--work and reused.

Runs, for hub_ops and for restic (Debian package `restic`; installed with apt-get when
missing): full backup into an empty repository, no-change backup, backup after changing 1%
of the files, restore of the latest snapshot into an empty folder (when root: a fresh loop-mounted
filesystem per restore, see fresh_fs.py; --no-fresh-fs for folders under --work); then repository sizes,
and a bare walk+lstat of the tree as the floor for the no-change run. Full, no-change and
restore run A-B-B-A (best of two each) so the order on a shared machine picks no winner.
Prints figures and the ratios the issue sets as targets.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MiB = 1 << 20
COURSE_FILES = 80
SEED = 20260315


# ---------------------------------------------------------------- the tree


def _text_pool(rng: np.random.Generator, size: int) -> bytes:
    """Text that compresses like code and notebooks do (~3x with zstd)."""
    words = [
        bytes(rng.choice(list(b"abcdefghijklmnopqrstuvwxyz_"), size=int(n))) for n in rng.integers(2, 12, size=4000)
    ]
    words += [
        b"import",
        b"numpy",
        b"as",
        b"np",
        b"def",
        b"return",
        b"for",
        b"in",
        b"self",
        b"data",
        b"=",
        b"(",
        b")",
        b"0.0",
        b"1",
        b"\n",
        b"    ",
        b'"cell_type": "code",',
        b"plt.plot(x, y)",
    ]
    weights = np.concatenate([np.full(4000, 1.0), np.full(len(words) - 4000, 40.0)])
    weights /= weights.sum()
    picks = rng.choice(len(words), size=size // 5, p=weights)
    out = b" ".join(words[i] for i in picks)
    return out[:size]


def _unique(pool: bytes, rng: random.Random, size: int) -> bytes:
    """`size` bytes of pool text, made unique (so files do not dedupe with each other)."""
    if size <= 0:
        return b""
    start = rng.randrange(0, len(pool) - size) if size < len(pool) else 0
    body = bytearray(pool[start : start + size])
    stamp = f"# {rng.getrandbits(64):016x}\n".encode()
    body[: len(stamp)] = stamp[: len(body)]
    return bytes(body)


def generate_tree(root: Path, scale: float, seed: int = SEED) -> dict:
    """Write the tree under `root` (reused when a marker says it is complete)."""
    marker = root / ".complete"
    if marker.exists():
        return eval(marker.read_text())  # noqa: S307 - our own repr of a dict of numbers
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    pool = _text_pool(nrng, 32 * MiB)
    users = max(2, round(200 * scale))
    files = 0
    total = 0

    def write(path: Path, data: bytes) -> None:
        nonlocal files, total
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files += 1
        total += len(data)

    course = []  # the shared course folder: the same files in 75% of homes
    for i in range(COURSE_FILES):
        kind = i % 8
        if kind == 7:
            course.append((f"course/figures/fig{i:02d}.png", nrng.bytes(rng.randint(20_000, 120_000))))
        elif kind == 6:
            course.append((f"course/data/table{i:02d}.csv", _unique(pool, rng, rng.randint(10_000, 80_000))))
        else:
            course.append(
                (f"course/week{i // 8:02d}/lesson{i:02d}.ipynb", _unique(pool, rng, rng.randint(4_000, 30_000)))
            )
    personal_files = max(20, round(190))  # per user
    big_count = max(1, round(12 * scale))
    big_owners = rng.sample(range(users), min(users, big_count))
    for u in range(users):
        home = root / f"user-{u:03d}"
        home.mkdir(parents=True)
        (home / ".cache").mkdir()  # empty folders exist in real homes
        if rng.random() < 0.75:
            for rel, data in course:
                write(home / rel, data)
        for j in range(personal_files):
            project = f"projects/p{j % 7}"
            r = rng.random()
            if r < 0.06:
                write(home / project / f"plot{j}.png", nrng.bytes(int(rng.lognormvariate(10.2, 0.8))))
            elif r < 0.10:
                write(home / project / f"results{j}.npy", nrng.bytes(int(rng.lognormvariate(10.5, 0.9))))
            elif r < 0.40:
                write(home / project / f"analysis{j}.ipynb", _unique(pool, rng, int(rng.lognormvariate(9.0, 1.0))))
            elif r < 0.55:
                write(home / project / f"data{j}.csv", _unique(pool, rng, int(rng.lognormvariate(8.5, 1.2))))
            elif r < 0.57:
                write(home / f"empty{j}.txt", b"")
            else:
                write(home / project / f"mod{j}.py", _unique(pool, rng, int(rng.lognormvariate(7.5, 1.0))))
        if u % 10 == 0:
            os.symlink("projects/p0", home / "current")
    for n, u in enumerate(big_owners):  # datasets: half noise, half smooth measurements
        size = int(rng.uniform(90, 200) * MiB * min(1.0, scale))
        half = size // 2
        smooth = (np.cumsum(nrng.integers(-3, 4, size=(size - half) // 2, dtype=np.int16)) % 4096).astype(np.int16)
        write(root / f"user-{u:03d}" / "datasets" / f"run{n:02d}.nc", nrng.bytes(half) + smooth.tobytes())
    info = {"users": users, "files": files, "bytes": total}
    marker.write_text(repr(info))
    return info


def change_one_percent(root: Path, seed: int) -> int:
    """Append a line to 1% of the files (chosen at random); returns how many."""
    rng = random.Random(seed)
    paths = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.name != ".complete")
    chosen = rng.sample(paths, max(1, len(paths) // 100))
    for p in chosen:
        with open(p, "ab") as f:
            f.write(f"\n# edited {rng.getrandbits(32):08x}\n".encode())
    return len(chosen)


# ---------------------------------------------------------------- tools


def walk_floor(root: Path) -> float:
    start = time.perf_counter()
    stack = [os.fsencode(root)]
    n = 0
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                e.stat(follow_symlinks=False)  # the floor is a walk with a stat per entry
                n += 1
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return time.perf_counter() - start


def tree_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def ensure_restic() -> str:
    found = shutil.which("restic")
    if found:
        return found
    print("restic not found: apt-get install -y restic", flush=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "restic"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("restic") or "restic"


def fresh_memory(*warm: Path) -> None:
    """Before a restore: empty the page cache (when allowed), then read `warm` (what the run
    reads from) into it. Every restore then starts alike: its source in memory, room for
    what it writes. Without this the later runs of a benchmark write into a full page cache
    and pay for reclaim, or find their repository evicted (measured: 3.0-4.3 s for the same
    restore)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1")
    except OSError:
        pass  # not root: the runs see whatever memory holds
    for path in (p for root in warm for p in root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                while f.read(16 << 20):
                    pass


def copy_floor(src: Path, target: Path) -> float:
    """`cp -a` of the tree: creating its files and writing its bytes, no decoding or
    checking, in the kernel (copy_file_range). What any restore pays on this filesystem."""
    fresh_memory(src)
    start = time.perf_counter()
    subprocess.run(["cp", "-a", str(src), str(target)], check=True)
    return time.perf_counter() - start


class Restic:
    def __init__(self, binary: str, repo: Path, cache: Path):
        self.binary, self.repo = binary, repo
        self.env = {
            **os.environ,
            "RESTIC_PASSWORD": "benchmark",
            "RESTIC_REPOSITORY": str(repo),
            "RESTIC_CACHE_DIR": str(cache),
        }

    def run(self, *args: str) -> float:
        os.sync()  # each run starts with no dirty pages left by the other tool
        start = time.perf_counter()
        subprocess.run([self.binary, "-q", *args], env=self.env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


# ---------------------------------------------------------------- memory with many files


# Watches the interpreter's child processes (restore's workers) for their own peak RSS.
# Not RUSAGE_CHILDREN: a child started by vfork+exec (subprocess.Popen) carries into its
# ru_maxrss the parent's peak at the moment it was started, so that figure is the parent's,
# not the worker's. A child not yet exec'd (same command line as ours) shares our memory and
# is skipped. Sampled every 20 ms: a worker's growth in its last 20 ms may be missed.
_CHILD_WATCH = """
import os as _os, re as _re, threading as _threading, time as _time
_child_hwm = {}
def _watch_children():
    me = _os.getpid()
    own = open(f'/proc/{me}/cmdline', 'rb').read()
    while True:
        for task in _os.listdir(f'/proc/{me}/task'):
            try:
                kids = open(f'/proc/{me}/task/{task}/children').read().split()
            except OSError:
                continue
            for kid in kids:
                try:
                    if open(f'/proc/{kid}/cmdline', 'rb').read() == own:
                        continue
                    hwm = _re.search(r'VmHWM:\\s+(\\d+)', open(f'/proc/{kid}/status').read())
                except OSError:
                    continue
                if hwm:
                    _child_hwm[kid] = max(_child_hwm.get(kid, 0), int(hwm.group(1)))
        _time.sleep(0.02)
_threading.Thread(target=_watch_children, daemon=True).start()
"""


def peak_rss_of(code: str) -> tuple[float, int, str]:
    """Run `code` in a fresh interpreter: (seconds, peak RSS in bytes from VmHWM, its stdout,
    whose last line also holds the largest child process's own peak: `largest_child_rss`)."""
    wrapper = (
        _CHILD_WATCH + code + "\nimport re\n"
        "print('HWM', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1),"
        " max(dict(_child_hwm).values(), default=0))"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    hwm = int(done.stdout.strip().splitlines()[-1].split()[1]) * 1024
    return elapsed, hwm, done.stdout


def largest_child_rss(stdout: str) -> int:
    """From `peak_rss_of`'s stdout: the peak RSS (VmHWM) in bytes of the largest process the
    code started (restore's worker processes), 0 if none."""
    return int(stdout.strip().splitlines()[-1].split()[2]) * 1024


def make_many_files(root: Path, count: int) -> Path:
    """`count` tiny files of distinct contents under `root` (1,000 per folder, 50 folders per
    user), made once: a `.complete` marker lets later runs reuse the tree."""
    if (root / ".complete").exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    per_dir = 1000
    for d in range(0, count, per_dir):
        folder = root / f"user{d // 50_000:03d}" / f"dir{d // per_dir:05d}"
        folder.mkdir(parents=True)
        for i in range(d, min(d + per_dir, count)):
            (folder / f"f{i}").write_bytes(b"%d\n" % i)
    (root / ".complete").write_text("")
    return root


def backup_code(dest: Path, source: Path) -> str:
    """Python source of one `create_snapshot` (what a backup pod runs), printing the file count."""
    return (
        "from hub_ops.backup import Repository, create_snapshot\n"
        f"s = create_snapshot(Repository.open({str(dest)!r}), 'bench/many', {str(source)!r})\n"
        "print(s.files)"
    )


def restore_code(dest: Path, target: Path) -> str:
    """Python source of one full restore of the latest snapshot, printing the files written."""
    return (
        "from hub_ops.backup import Repository, restore_snapshot\n"
        f"r = restore_snapshot(Repository.open({str(dest)!r}), 'bench/many', {str(target)!r})\n"
        "print(r.files)"
    )


def verify_code(dest: Path) -> str:
    """Python source of one `verify --deep` of the latest snapshot, printing the contents re-hashed."""
    return (
        "from hub_ops.backup import Repository, verify_snapshot\n"
        f"r = verify_snapshot(Repository.open({str(dest)!r}), 'bench/many', deep=True)\n"
        "r.raise_for_problems()\n"
        "print(r.deep_checked)"
    )


def many_files(n: int, work: Path, keep: bool = False) -> int:
    """Peak memory of a full and a no-change backup of `n` tiny distinct files, then of a
    full restore and a `verify --deep` of that snapshot, against the same for n/10: memory
    must not grow with the number of files. `keep`: leave the trees and destinations for
    the next run, which then measures only the restore and the verify."""
    rows = []
    for count in (n // 10, n):
        root = make_many_files(work / f"many-{count}", count)
        dest = work / f"many-dest-{count}"
        backed_up = dest / ".benchmark-complete"
        full = unchanged = None
        if not (keep and backed_up.exists()):
            if dest.exists():
                shutil.rmtree(dest)
            full = peak_rss_of(backup_code(dest, root))
            unchanged = peak_rss_of(backup_code(dest, root))
            backed_up.write_text("")
        target = work / f"many-restore-{count}"
        if target.exists():
            shutil.rmtree(target)
        restored = peak_rss_of(restore_code(dest, target))
        assert restored[2].split()[0] == str(count + 1), restored[2]  # and make_many_files's marker file
        shutil.rmtree(target)
        verified = peak_rss_of(verify_code(dest))
        rows.append((count, full, unchanged, restored, verified))
        if not keep:
            shutil.rmtree(dest)
    print(f"{'files':>9} {'full s':>7} {'full MB':>8} {'no-change s':>7} {'MB':>8}", end="")
    print(f" {'restore s':>10} {'restore MB':>11} {'worker MB':>10} {'verify --deep s':>16} {'verify MB':>10}")
    for count, full, unchanged, restored, verified in rows:
        cells = [f"{'-':>7} {'-':>8}" if r is None else f"{r[0]:7.1f} {r[1] / 1e6:8.0f}" for r in (full, unchanged)]
        cells.append(f"{restored[0]:10.1f} {restored[1] / 1e6:11.0f} {largest_child_rss(restored[2]) / 1e6:10.0f}")
        cells.append(f"{verified[0]:16.1f} {verified[1] / 1e6:10.0f}")
        print(f"{count:>9} " + " ".join(cells))
    return 0


# ---------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks backup", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = ~50k files, ~2.5 GB")
    parser.add_argument("--work", type=Path, default=Path(".data/bench/backup"))
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep repositories and restores (--many-files: trees and destinations, reused)",
    )
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--no-fresh-fs",
        dest="fresh_fs",
        action="store_false",
        help="restore into folders under --work, not a fresh loop-mounted image per run (the default when root)",
    )
    parser.add_argument(
        "--many-files",
        type=int,
        default=0,
        metavar="N",
        help="instead: peak memory of backups of N tiny files (and N/10), e.g. 1000000",
    )
    args = parser.parse_args(argv)
    if args.many_files:
        return many_files(args.many_files, args.work.resolve(), args.keep)

    from benchmarks.fresh_fs import fresh_target, plan
    from hub_ops.backup import BackupOptions, Repository, create_snapshot, restore_snapshot

    work = args.work.resolve()
    tree = work / f"tree-{args.scale:g}"
    t0 = time.perf_counter()
    info = generate_tree(tree, args.scale)
    print(
        f"tree: {info['users']} users, {info['files']} files, {info['bytes'] / 1e9:.2f} GB "
        f"({'generated' if time.perf_counter() - t0 > 1 else 'reused'} in {time.perf_counter() - t0:.1f} s) at {tree}"
    )
    print("note: a shared, busy machine (2 cores, other agents running): figures vary run to run")
    fs_settings, fs_note = plan(work, args.fresh_fs)
    print(f"restores: {fs_note}")
    image_size = 2 * info["bytes"] + (2 << 30)
    # work on a copy, so the 1% change never alters the cached tree
    src = work / "src"
    scratch = (
        [src]
        + [work / n for n in ("ours-a", "ours-b", "restic-a", "restic-b", "restic-cache")]
        + [work / f"restore-{who}-{i}" for who in ("ours", "restic", "cp") for i in (1, 2)]
    )
    for d in scratch:
        if d.exists():
            shutil.rmtree(d)
    subprocess.run(["cp", "-a", str(tree), str(src)], check=True)
    (src / ".complete").unlink()
    walk_floor(src)  # warm the dentry cache like a second nightly run would see it
    floor = min(walk_floor(src) for _ in range(3))
    binary = ensure_restic()
    restic_a, restic_b = (Restic(binary, work / f"restic-{x}", work / "restic-cache") for x in "ab")
    version = subprocess.run([binary, "version"], capture_output=True, text=True).stdout.strip()
    for r in (restic_a, restic_b):
        subprocess.run([binary, "init", "-q"], env=r.env, check=True, stdout=subprocess.DEVNULL)
    repo_a, repo_b = Repository.open(str(work / "ours-a")), Repository.open(str(work / "ours-b"))
    options = BackupOptions(workers=args.workers)

    def ours_backup(repo) -> float:
        os.sync()  # each run starts with no dirty pages left by the other tool
        start = time.perf_counter()
        create_snapshot(repo, "bench/hub", src, options)
        return time.perf_counter() - start

    def ours_restore(folder: Path) -> float:
        with fresh_target(fs_settings, folder, image_size) as target:
            fresh_memory(work / "ours-a")
            start = time.perf_counter()
            restore_snapshot(repo_a, "bench/hub", target)
            return time.perf_counter() - start

    def restic_restore(folder: Path) -> float:
        with fresh_target(fs_settings, folder, image_size) as target:
            fresh_memory(work / "restic-a", work / "restic-cache")
            return restic_a.run("restore", "latest", "--target", str(target))

    def copy(folder: Path) -> float:
        with fresh_target(fs_settings, folder, image_size) as target:
            return copy_floor(src, target)

    # each pair in A-B-B-A order (restic, ours, ours, restic) on fresh repositories and
    # targets, best of two: the machine is shared, so the order must not pick the winner
    results: dict[str, tuple[float, float]] = {}
    r1, o1, o2, r2 = (
        restic_a.run("backup", str(src)),
        ours_backup(repo_a),
        ours_backup(repo_b),
        restic_b.run("backup", str(src)),
    )
    results["full"] = (min(r1, r2), min(o1, o2))
    r1, o1, o2, r2 = (
        restic_a.run("backup", str(src)),
        ours_backup(repo_a),
        ours_backup(repo_a),
        restic_a.run("backup", str(src)),
    )
    results["no-change"] = (min(r1, r2), min(o1, o2))
    changed = change_one_percent(src, SEED + 1)
    results["1% changed"] = (restic_a.run("backup", str(src)), ours_backup(repo_a))
    c1 = copy(work / "restore-cp-1")
    r1 = restic_restore(work / "restore-restic-1")
    o1, o2 = ours_restore(work / "restore-ours-1"), ours_restore(work / "restore-ours-2")
    r2 = restic_restore(work / "restore-restic-2")
    c2 = copy(work / "restore-cp-2")
    results["restore"] = (min(r1, r2), min(o1, o2))
    copy_s = min(c1, c2)
    size_restic, size_ours = tree_size(work / "restic-b"), tree_size(work / "ours-b")  # one full backup each

    gb = info["bytes"] / 1e9
    print(f"\n{version}; hub_ops workers: {options.workers or 'auto'}; {changed} files changed for the 1% run")
    print(f"{'run':<12} {'restic s':>9} {'hub_ops s':>10} {'hub_ops GB/s':>13} {'speed-up':>9}")
    for name, (theirs, ours) in results.items():
        print(f"{name:<12} {theirs:9.2f} {ours:10.2f} {gb / ours:13.2f} {theirs / ours:8.2f}x")
    print(f"walk+lstat floor: {floor:.3f} s; no-change / floor: {results['no-change'][1] / floor:.2f}x")
    print(
        f"cp -a of the tree (the filesystem's cost of creating it): {copy_s:.2f} s; restore / cp -a: "
        f"restic {results['restore'][0] / copy_s:.2f}x, hub_ops {results['restore'][1] / copy_s:.2f}x"
    )
    print(
        f"repository size after one full backup: restic {size_restic / 1e9:.3f} GB, hub_ops {size_ours / 1e9:.3f} GB "
        f"({(size_ours / size_restic - 1) * 100:+.1f}%)"
    )
    checks = [
        ("full >= 2x restic throughput", results["full"][0] / results["full"][1] >= 2),
        ("no-change <= 2x walk floor", results["no-change"][1] <= 2 * floor),
        ("1% change <= 1 s", results["1% changed"][1] <= 1.0),
        ("restore >= 2.5x restic", results["restore"][0] / results["restore"][1] >= 2.5),
        ("repository within 10% of restic's", abs(size_ours / size_restic - 1) <= 0.10),
    ]
    for label, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {label}")
    if not args.keep:
        for d in scratch:
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
