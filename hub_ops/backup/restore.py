"""Restore a snapshot (whole, one user, or paths matching globs) into a target folder.

Byte-identical: contents are re-hashed while written (a corrupt blob fails naming the file),
modes and mtimes are set on files, folders and symlinks, and owners too when running as
root. A file already in the target is replaced by a temporary file renamed over it (whole
or not at all); a new one is written in place, and a crash leaves it with a time that is
not the snapshot's. A file in the target with the snapshot's size, mtime and mode is taken
as restored, so a rerun after a crash rewrites only what was cut short.

Never writes outside `target`:
- before anything is written, the selection is checked: absolute paths, empty, `.` or `..`
  components, entries below a symlink of the snapshot, and symlinks pointing outside the
  target (absolute, or climbing above it) are refused, and the restore stops listing them
  all (`skip_refused=True` restores the rest instead; `allow_external_links=True` restores
  links pointing out as they were, since a link alone writes nothing);
- while writing, every folder on the way is checked to be a real folder (never a symlink
  already in the target), files replace only files or symlinks, never folders;
- symlinks are created last, after every file and folder, so no write can pass through one.

Nothing in the target is deleted: files the snapshot does not have are left alone. A file
in the target newer than the snapshot's copy (a later mtime: somebody's work since the
backup) is kept and listed in the report's `kept_newer`, unless `overwrite_newer` is given
(callers ask for a reason and record it).

Speed: large contents stream from their blobs in threads (long calls that release the GIL);
small files, read from packs, go to worker processes when the destination is local and
there are many (restore_processes.py: threads writing small files mostly wait for the GIL).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from hub_ops.backup import blobs
from hub_ops.backup.errors import BackupError, BackupIntegrityError, RestoreRefusedError
from hub_ops.backup.manifest import iter_rows, row_count
from hub_ops.backup.packs import pack_key
from hub_ops.backup.repository import Repository, normalize_hub
from hub_ops.backup.restore_files import Entry, TargetWriter
from hub_ops.backup.restore_processes import PackWriters

# Worker processes for small files take ~60 ms to start: worth it from this many entries.
PROCESSES_FROM_ENTRIES = 2000
# Large contents are decoded, hashed and written this much at a time. Small enough to stay
# in a core's L2 cache (1 MiB here) between the three: the kernel's copy into the page cache
# from a 4 MiB buffer cost 5-8x the system time of 1 MiB or 128 KiB writes (800 MB on a
# fresh ext4 image: 0.97-1.79 s against 0.16-0.22 s), most of a restore's system time.
STREAM_CHUNK = 256 << 10


@dataclass
class RestoreReport:
    hub: str
    snapshot_id: str
    target: str
    files: int = 0
    bytes: int = 0
    dirs: int = 0
    symlinks: int = 0
    already_there: int = 0
    refused: list[str] = field(default_factory=list)
    kept_newer: list[str] = field(default_factory=list)  # newer in the target than in the snapshot: left alone


@dataclass
class RestoreProgress:
    files: int = 0
    bytes: int = 0
    expected_files: int = 0
    expected_bytes: int = 0


def _refusal(path: bytes) -> str | None:
    if not path:
        return "empty path"
    if path.startswith(b"/"):
        return "absolute path"
    if b"\x00" in path:
        return "NUL byte in path"
    for part in path.split(b"/"):
        if part in (b"", b".", b".."):
            return f"path component {part.decode() or '(empty)'!r} would leave its folder"
    return None


def _link_escapes(path: bytes, target: bytes) -> bool:
    if target.startswith(b"/"):
        return True
    depth = path.count(b"/")  # folders between the target root and the link
    for part in target.split(b"/"):
        if part == b"..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in (b"", b"."):
            depth += 1
    return False


class _Selector:
    def __init__(self, users: list[str] | None, globs: list[str] | None):
        self.users: tuple[bytes, ...] | None = None
        if users is not None:
            for user in users:
                if not user or "/" in user or user in (".", ".."):
                    raise BackupError(f"user {user!r}: expected the name of one home folder")
            self.users = tuple(os.fsencode(user) for user in users)
        self.patterns = [re.compile(fnmatch.translate(g.strip("/")).encode()) for g in globs or []]

    def __call__(self, path: bytes) -> bool:
        if self.users is not None and not any(path == u or path.startswith(u + b"/") for u in self.users):
            return False
        if not self.patterns:
            return True
        # a pattern selects an entry and everything below it
        parts = path.split(b"/")
        for i in range(1, len(parts) + 1):
            prefix = b"/".join(parts[:i])
            if any(p.match(prefix) for p in self.patterns):
                return True
        return False


def restore_snapshot(
    repo: Repository,
    hub: str,
    target: str | os.PathLike,
    snapshot: str = "latest",
    *,
    user: str | None = None,
    users: list[str] | None = None,
    globs: list[str] | None = None,
    overwrite_newer: bool = False,
    allow_external_links: bool = False,
    skip_refused: bool = False,
    workers: int | None = None,
    processes: int | None = None,
    progress: RestoreProgress | None = None,
    log: Callable[[str], None] | None = None,
) -> RestoreReport:
    """Restore `snapshot` of `hub` into `target` (created if missing). Idempotent.

    `user` or `users`: only those home folders. A file already in the target with a later
    mtime than the snapshot's copy is kept (listed in `kept_newer`) unless `overwrite_newer`.
    Raises RestoreRefusedError (nothing written) when entries would escape the target,
    unless `skip_refused`; raises BackupIntegrityError naming the file when a blob is
    missing or corrupt (files before it are restored, rerun after repairing).
    `workers`: threads for large contents; `processes`: worker processes for small files
    from a local destination (None: one per CPU when there are many, 0: threads only).
    """
    hub = normalize_hub(hub)
    snapshot_id = repo.resolve(hub, snapshot)
    if user is not None:
        users = [*(users or []), user]
    select = _Selector(users, globs)
    root = os.path.abspath(os.fspath(target))
    report = RestoreReport(hub, snapshot_id, root)
    progress = progress or RestoreProgress()
    with repo.local_manifest(hub, snapshot_id) as manifest, contextlib.ExitStack() as stack:
        if processes is None:
            many = repo.store.is_local and row_count(manifest) >= PROCESSES_FROM_ENTRIES
            processes = _cpus() if many else 0
        elif processes and not repo.store.is_local:
            raise BackupError(
                f"restore worker processes read packs from local files: use processes=0 for {repo.store.full_url('')}"
            )
        # started first, so they are ready when pass 1 ends; they write nothing before a job
        writers = stack.enter_context(PackWriters(root, processes, overwrite_newer)) if processes else None
        # ---- pass 1: check the selection before writing anything
        checked = _check_selection(manifest, select, allow_external_links)
        refused, refused_paths = checked.refused, checked.refused_paths
        progress.expected_files += checked.files
        progress.expected_bytes += checked.bytes
        if refused and not skip_refused:
            raise RestoreRefusedError(
                f"restore of {snapshot_id} of {hub} into {root} refused, nothing written", refused
            )
        report.refused = refused
        if checked.entries == 0:
            if users:
                what = "user " + ", ".join(repr(u) for u in users)
            else:
                what = ("paths matching " + ", ".join(globs)) if globs else "anything"
            raise BackupError(f"snapshot {snapshot_id} of {hub} has no {what}")
        if log:
            log(f"restoring {checked.files} files ({checked.bytes} bytes) of {snapshot_id} into {root}")

        # ---- pass 2: folders and files
        n_workers = workers or (_local_workers() if repo.store.is_local else 32)
        dir_meta: list[tuple[bytes, int, int, int, int]] = []
        link_rows: list[tuple[bytes, bytes, int, int, int]] = []
        pending: set[Future] = set()

        def settle(limit: int) -> None:
            """Bounded queue, no barrier between manifest batches. Waits for whichever job
            ends first: waiting for the oldest (often a large file) left the small-file
            workers with nothing queued."""
            while len(pending) > limit:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                pending.difference_update(done)
                for future in done:
                    future.result()

        writer = _Writer(repo, root, progress, writers, overwrite_newer)
        blob_pool = stack.enter_context(ThreadPoolExecutor(n_workers, thread_name_prefix="restore"))
        # Small files (packs): a thread writing them hands the GIL over at every syscall,
        # so threads mostly wait for each other there (restore_processes.py). Locally they
        # go to worker processes, one thread driving each; otherwise (or with processes=0)
        # to a pool of half as many threads as large contents get (measured on 2 cores,
        # 49,760 small files: 2.0-2.9 s in one pool of 4 threads, 1.6-1.7 s with 2).
        if not repo.store.is_local:
            packs_pool = blob_pool
        else:
            packs_pool = stack.enter_context(
                ThreadPoolExecutor(processes or max(1, n_workers // 2), thread_name_prefix="restore-packs")
            )
        # every row unless some are refused or not selected: the loop below runs before the
        # first job starts, so it skips the per-row checks when it can (zip, not indexing)
        everything = not refused_paths and select.users is None and not select.patterns
        for cols in iter_rows(manifest, _PASS2_COLUMNS):
            # one job per stored object: a blob, or a pack and the contents wanted from it
            groups: dict[str, list[tuple[bytes, int, int, int, int, int]]] = {}
            packed: dict[str, dict[str, tuple[int, int]]] = {}
            for path, kind, size, mode, mtime_ns, uid, gid, digest, pack, offset, stored, link in zip(
                *(cols[c] for c in _PASS2_COLUMNS)
            ):
                if not everything and (path in refused_paths or not select(path)):
                    continue
                if kind == "d":  # created by the workers as files need them, empty ones last
                    dir_meta.append((path, mode, mtime_ns, uid, gid))
                elif kind == "l":
                    link_rows.append((path, link, mtime_ns, uid, gid))
                else:
                    entries = groups.get(digest)
                    if entries is None:
                        entries = groups[digest] = []
                    entries.append((path, size, mode, mtime_ns, uid, gid))
                    if pack is not None:
                        packed.setdefault(pack, {})[digest] = (offset, stored)
            in_packs = {d for contents in packed.values() for d in contents}
            blob_jobs = [(d, entries) for d, entries in groups.items() if d not in in_packs]
            blob_jobs.sort(key=lambda job: -job[1][0][1])  # largest first: no lone big file at the end
            for digest, entries in blob_jobs:
                pending.add(blob_pool.submit(writer.restore_blob, digest, entries))
                settle(4 * n_workers)
            for pack, contents in packed.items():
                for part in _pack_jobs(contents, groups):
                    pending.add(packs_pool.submit(writer.restore_pack, pack, part))
                    settle(4 * n_workers)
        settle(0)
        if writers is not None:
            writers.stop()  # they exit during pass 3
        # ---- pass 3: empty folders, symlinks, then folder modes and times, deepest first
        for path, *_ in dir_meta:
            writer.make_dir(path)
        for path, link, mtime_ns, uid, gid in link_rows:
            writer.make_link(path, link, mtime_ns, uid, gid)
        for path, mode, mtime_ns, uid, gid in reversed(dir_meta):
            writer.finish_dir(path, mode, mtime_ns, uid, gid)
        report.dirs = len(dir_meta)
    report.files, report.bytes = writer.files, writer.bytes
    report.already_there, report.symlinks = writer.already_there, writer.symlinks
    report.kept_newer = sorted(writer.kept_newer)
    if log and report.kept_newer:
        log(f"kept {len(report.kept_newer)} file(s) newer in {root} than in the snapshot: {report.kept_newer[:20]}")
    if writer.problems:
        raise RestoreRefusedError(
            f"restore of {snapshot_id} into {root}: {len(writer.problems)} entries not written", writer.problems
        )
    return report


# what pass 2 reads of each row, in the order it unpacks them
_PASS2_COLUMNS = [
    "path",
    "type",
    "size",
    "mode",
    "mtime_ns",
    "uid",
    "gid",
    "digest",
    "pack",
    "offset",
    "stored_size",
    "link_target",
]

# the paths `_refusal` refuses (an empty, `.` or `..` component, absolute, a NUL byte), found
# by one C-speed search so that only those go through the slower function for its message
_ODD_PATH = re.compile(rb"(?:^|/)\.{0,2}(?:/|$)|\x00")


@dataclass
class _Selection:
    entries: int = 0  # selected
    # selected and not refused:
    files: int = 0
    bytes: int = 0
    refused: list[str] = field(default_factory=list)
    refused_paths: set[bytes] = field(default_factory=set)


def _check_selection(manifest: str, select: _Selector, allow_external_links: bool) -> _Selection:
    """Pass 1: what the selection holds, and what of it must be refused (by `_refusal`,
    below any selected symlink wherever it is listed, links pointing out, unknown types)."""
    everything = select.users is None and not select.patterns
    links: set[bytes] = set()
    for cols in iter_rows(manifest, ["path", "type"]):
        links.update(p for p, kind in zip(cols["path"], cols["type"]) if kind == "l" and (everything or select(p)))
    out = _Selection()
    clean: set[bytes] = {b""}
    for cols in iter_rows(manifest, ["path", "type", "size", "link_target"]):
        for path, kind, size, link in zip(cols["path"], cols["type"], cols["size"], cols["link_target"]):
            if not (everything or select(path)):
                continue
            out.entries += 1
            why = _refusal(path) if _ODD_PATH.search(path) else None
            if why is None and links:
                parent = path[: max(0, path.rfind(b"/"))]
                if parent not in clean:  # folders already known to be below no symlink
                    under = _link_above(parent, links)
                    if under is None:
                        clean.add(parent)
                    else:
                        why = f"below the symlink {os.fsdecode(under)} of the same snapshot"
            if why is None and kind == "l":
                if link is None:
                    why = "symlink without a target"
                elif not allow_external_links and _link_escapes(path, link):
                    why = f"symlink pointing outside the target ({os.fsdecode(link)})"
            if why is None and kind not in ("f", "d", "l"):
                why = f"unknown entry type {kind!r}"
            if why:
                out.refused.append(f"{os.fsdecode(path)}: {why}")
                out.refused_paths.add(path)
            elif kind == "f":
                out.files += 1
                out.bytes += size
    return out


def _link_above(folder: bytes, links: set[bytes]) -> bytes | None:
    """The symlink among `folder` and the folders above it, if any."""
    while folder:
        if folder in links:
            return folder
        folder = folder[: max(0, folder.rfind(b"/"))]
    return None


def _pack_jobs(
    contents: dict[str, tuple[int, int]], groups: dict[str, list[Entry]], files_per_job: int = 1024
) -> Iterator[dict[str, tuple[tuple[int, int], list[Entry]]]]:
    """The contents wanted from one pack, in jobs of about `files_per_job` files, in pack
    order (each job reads one stretch of the pack): a pack holds thousands of small files,
    and smaller jobs keep every thread or process busy to the end."""
    job: dict[str, tuple[tuple[int, int], list[Entry]]] = {}
    files = 0
    for digest, loc in sorted(contents.items(), key=lambda item: item[1][0]):
        job[digest] = (loc, groups[digest])
        files += len(groups[digest])
        if files >= files_per_job:
            yield job
            job, files = {}, 0
    if job:
        yield job


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2


def _local_workers() -> int:
    """Twice the CPUs this process may use, at most 16. Restoring from a local destination
    is CPU work (decompress, hash, and the kernel's file creation and page copies); more
    threads than that only contend in the kernel. Measured on 2 cores, ext4, one pool for
    everything: 16 threads 3.7-9.4 s, 8: 3.2-4.1 s, 4: 2.6-3.5 s (sys time 2.1-2.9 s
    against 3.0-14 s)."""
    return max(2, min(16, 2 * _cpus()))


class _Writer(TargetWriter):
    """The target writer, reading what it writes from the repository: large contents
    streamed from their blobs, small ones from packs (in this process's threads, or in
    worker processes when `processes` is given)."""

    def __init__(
        self,
        repo: Repository,
        root: str,
        progress: RestoreProgress,
        processes: PackWriters | None,
        overwrite_newer: bool = False,
    ):
        super().__init__(root, progress, overwrite_newer)
        self.repo, self.processes = repo, processes

    def restore_blob(self, digest: str, entries: list[Entry]) -> None:
        key = blobs.blob_key(digest)

        def chunks():
            try:
                with self.repo.store.open_read(key) as src:
                    yield from blobs.iter_decoded(src, STREAM_CHUNK)
            except FileNotFoundError:
                raise BackupIntegrityError(
                    f"{os.fsdecode(entries[0][0])}: blob {self.repo.store.full_url(key)} is missing"
                ) from None

        self.write_files(digest, entries, chunks, f"blob {self.repo.store.full_url(key)}")

    def restore_pack(self, pack_id: str, contents: dict[str, tuple[tuple[int, int], list[Entry]]]) -> None:
        key = pack_key(pack_id)
        url = self.repo.store.full_url(key)
        start = min(offset for (offset, _), _ in contents.values())
        end = max(offset + stored for (offset, stored), _ in contents.values())
        try:
            if self.processes is None:
                data = self.repo.store.read_range(key, start, end)  # one read for the contents wanted here
            else:
                done = self.processes.write_pack(self.repo.store.local_path(key), start, end, contents, url)
                if done is None:
                    raise FileNotFoundError(key)
        except FileNotFoundError:
            first = next(iter(contents.values()))[1][0][0]
            raise BackupIntegrityError(f"{os.fsdecode(first)}: pack {url} is missing") from None
        if self.processes is None:
            self.write_packed(data, start, contents, url)
            return
        self.count(done.files, done.bytes, done.already_there, done.already_bytes)
        self.add_problems(done.problems)
        with self._lock:
            self.dirs |= done.dirs
            self.kept_newer.extend(done.kept_newer)
