"""Take a snapshot: walk, reuse what did not change, hash and upload the rest, commit.

One pass over the homes, merged with the parent manifest: both are in manifest order (see
scan.py), so the walk streams in chunks, the parent streams in row groups, the new
manifest is written a chunk at a time, and at most PIPELINE chunks wait for workers.
Memory does not grow with the homes' size and little with their file count: a few chunks of
paths and stats, the contents stored this run (capped), the destination's pack index (64
bytes per packed content, loaded only when a file changed) and the snapshot's distinct
digests for its dedupe figure (48 bytes each). Measured: 1M files, 480 MB peak for a
nightly run, 850 MB for the first.

A file is unchanged when its size, mtime_ns and mode equal the parent's, and (unless
`ignore_inode`, for filesystems whose inode numbers change on every mount) its inode and
ctime_ns too: ctime catches a rewrite whose mtime was set back. Unchanged files reuse the
parent's digest without being read; the comparison is done on whole chunks with
numpy/arrow, so a no-change night costs little more than the walk itself. Other files are
read, hashed and stored once per distinct content (hashing.py).

Commit order (what makes kill -9 anywhere safe): blobs and packs (each atomic, a pack
before its index) -> flush (local disks: one sync, so a power cut cannot leave a manifest
naming data still in the page cache) -> summary JSON -> manifest (atomic, last). Before
the manifest exists the snapshot does not exist and earlier snapshots are untouched; a
rerun finds the uploaded blobs and packs and skips them.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import stat
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np
import pyarrow as pa

# the compute kernels without pyarrow.compute, whose import builds a Python wrapper for each
# of ~300 kernels (~0.1 s of every backup process); Table.take/filter would import it too
from pyarrow._compute import SetLookupOptions, call_function

from hub_ops.backup import columns
from hub_ops.backup.errors import SnapshotNotFoundError, SourceError
from hub_ops.backup.hashing import SMALL, VANISHED, ContentStore, FileUnreadable
from hub_ops.backup.locks import LockPolicy, shared_lock
from hub_ops.backup.manifest import SCHEMA, ManifestWriter, SnapshotSummary, iter_batches
from hub_ops.backup.packs import PackIndex, PackWriter, load_index
from hub_ops.backup.repository import Repository, new_snapshot_id, normalize_hub
from hub_ops.backup.scan import Chunk, order_key, put_unless_stopped, walk_chunks
from hub_ops.backup.spill import FLUSH as SPILL_FLUSH
from hub_ops.backup.spill import Buckets, digest_bucket

CHUNK = 8192  # entries per walk chunk (and manifest row group); PIPELINE + 3 chunks are in flight
PIPELINE = 3  # chunks waiting for workers, at most
JOB_FILES, JOB_BYTES = 64, 4 << 20  # small files are handed to workers in batches
MAX_UNREADABLE_LISTED = 100
PARENT_COLUMNS = [
    "path",
    "type",
    "size",
    "mtime_ns",
    "ctime_ns",
    "mode",
    "ino",
    "digest",
    "stored_size",
    "pack",
    "offset",
]


def _kinds() -> pa.Array:
    """Manifest `type` values by kind code (0 other, 1 file, 2 folder, 3 symlink)."""
    return columns.from_list(["?", "f", "d", "l"], pa.string())


@dataclass(frozen=True)
class BackupOptions:
    compression: str = "zstd"  # "zstd" | "none"
    workers: int | None = None  # None: 8 for local destinations, 32 for remote ones
    walk_threads: int = 1  # lstat/readdir requests in flight: more for NFS homes (parallel_walk.py)
    ignore_inode: bool = False
    fail_on_unreadable: bool = False
    parent: str | None = "latest"  # None: read and hash every file
    lock: LockPolicy = field(default_factory=LockPolicy)
    durable: bool = True  # flush local blobs to disk before the manifest names them


@dataclass(frozen=True)
class PartOf:
    """Back up only some top-level folders, as one worker's part of a snapshot (parts.py):
    the snapshot id and parent are the plan's, and the manifest goes to `manifest_key`
    (uncommitted: no summary JSON, not a snapshot until parts.commit_parts merges it)."""

    snapshot_id: str
    parent: str | None
    folders: frozenset[bytes]
    manifest_key: str


@dataclass
class Progress:
    """Counters a progress display reads (from any thread); `expected_*` come from the
    parent snapshot, `scanned` counts entries walked, `files`/`bytes` entries done."""

    scanned: int = 0
    files: int = 0
    bytes: int = 0
    new_bytes: int = 0
    expected_files: int = 0
    expected_bytes: int = 0
    started: float = field(default_factory=time.monotonic)


class _ParentWindow:
    """The parent manifest's rows from the walk's position on, loaded row group by row
    group as the walk advances and dropped once passed."""

    def __init__(self, batches: Iterator[pa.RecordBatch] | None):
        self._batches = batches
        self._done = batches is None
        self.table: pa.Table | None = None
        self._last_key: bytes | None = None

    def cover(self, last_key: bytes) -> pa.Table | None:
        """Rows loaded so that every parent row with key <= last_key is present."""
        while not self._done and (self._last_key is None or self._last_key <= last_key):
            batch = next(self._batches, None)
            if batch is None:
                self._done = True
                break
            if batch.num_rows == 0:
                continue
            t = pa.Table.from_batches([batch])
            self.table = t if self.table is None else pa.concat_tables([self.table, t]).combine_chunks()
            self._last_key = order_key(batch.column(0)[-1].as_py())
        return self.table

    def drop_through(self, last_key: bytes) -> None:
        if self.table is None or self.table.num_rows == 0:
            return
        paths = self.table.column(0)
        lo, hi = 0, self.table.num_rows
        while lo < hi:  # first row whose key is after last_key
            mid = (lo + hi) // 2
            if order_key(paths[mid].as_py()) <= last_key:
                lo = mid + 1
            else:
                hi = mid
        self.table = self.table.slice(lo)


@dataclass
class _Pending:
    chunk: Chunk
    paths: pa.Array
    columns: dict[str, np.ndarray]
    is_file: np.ndarray
    unchanged: np.ndarray
    parent: dict[str, pa.Array] | None  # digest, stored_size, pack, offset of the parent's rows
    jobs: list[tuple[np.ndarray, Future]]

    def done(self) -> bool:
        return all(f.done() for _, f in self.jobs)


def _first_per_key(records: np.ndarray) -> np.ndarray:
    """`records` (with a 16-byte "key"), one per distinct key, sorted by key. Sorts the key
    as two integers: numpy's sort of structured records compares them field by field in
    Python-level generic code (~10x slower; 15% of a no-change backup's main thread)."""
    if len(records) < 2:
        return records
    words = np.ascontiguousarray(records["key"]).view(">u8").reshape(-1, 2)
    order = np.lexsort((words[:, 1], words[:, 0]))
    hi, lo = words[order, 0], words[order, 1]
    first = np.concatenate(([True], (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])))
    return records[order[first]]


class _Distinct:
    """Sizes of the distinct contents a snapshot references, for its dedupe ratio.

    Records of the digest's first 128 bits and the two sizes (32 bytes) are held in memory up
    to HELD x FLUSH of them, then kept on disk (a set of every digest grows with the file
    count: 48 MB and a 150 MB sorting peak at 1M files): they go to spill.Buckets by the
    digest's first bits, and `totals` de-duplicates one bucket at a time, so memory is a
    bucket (1/64 of the records) however many files there are. A 128-bit prefix collision
    would only nudge a statistic; nothing is stored or skipped by this."""

    FLUSH = SPILL_FLUSH  # records buffered (and de-duplicated) before they are held or spilled
    HELD = 16  # de-duplicated records held in memory, in FLUSHes, before any go to disk
    _RECORD = np.dtype([("key", "V16"), ("size", "<i8"), ("stored", "<i8")])

    def __init__(self, folder: str):
        self._buckets = Buckets(folder, "distinct", self._RECORD)
        self._buffer: list[np.ndarray] = []
        self._buffered = 0
        # most snapshots' records fit here (8 MB at 262,144): no bucket files to write, read
        # back and delete (measured: 66 unlinks, ~10% of a 50k-file no-change backup)
        self._held: list[np.ndarray] = []
        self._held_count = 0
        self._spilled = False

    def add(self, digests: pa.Array, sizes: np.ndarray, stored: np.ndarray) -> None:
        """`digests`: non-null 64-character hex strings (files only)."""
        if len(digests) == 0:
            return
        offsets = np.frombuffer(digests.buffers()[1], np.int32)[digests.offset : digests.offset + len(digests) + 1]
        start = int(offsets[0])
        hexed = np.frombuffer(digests.buffers()[2], np.uint8)[start : start + 64 * len(digests)].reshape(-1, 64)
        nibbles = hexed[:, :32] - np.where(hexed[:, :32] >= ord("a"), ord("a") - 10, ord("0")).astype(np.uint8)
        records = np.empty(len(digests), self._RECORD)
        records["key"] = np.ascontiguousarray(nibbles[:, 0::2] << 4 | nibbles[:, 1::2]).view("V16").ravel()
        records["size"] = sizes
        records["stored"] = stored
        self._buffer.append(records)
        self._buffered += len(records)
        if self._buffered >= self.FLUSH:
            self._flush()

    def _flush(self) -> None:
        """De-duplicate what is buffered (files repeat contents), hold it, and spill what is
        held once it outgrows HELD flushes."""
        if self._buffered:
            records = _first_per_key(np.concatenate(self._buffer))
            self._buffer, self._buffered = [], 0
            self._held.append(records)
            self._held_count += len(records)
        if self._held_count > self.HELD * self.FLUSH:
            self._spill()

    def _spill(self) -> None:
        for records in self._held:
            self._buckets.add(records, digest_bucket(records["key"]))
        self._buckets.flush()
        self._held, self._held_count, self._spilled = [], 0, True

    def totals(self) -> tuple[int, int]:
        """(logical, stored) bytes of the distinct contents added."""
        self._flush()
        if self._spilled:
            self._spill()
            groups = iter(self._buckets)
        else:
            groups = iter([np.concatenate(self._held)] if self._held else [])
        size = stored = 0
        for records in groups:
            records = _first_per_key(records)
            size += int(records["size"].sum())
            stored += int(records["stored"].sum())
        return size, stored


def create_snapshot(
    repo: Repository,
    hub: str,
    source: str | os.PathLike,
    options: BackupOptions = BackupOptions(),
    progress: Progress | None = None,
    now: dt.datetime | None = None,
    log: Callable[[str], None] | None = None,
    part: PartOf | None = None,
) -> SnapshotSummary:
    """Snapshot the home directories under `source` for `hub` into `repo`.

    Safe to interrupt at any point and to rerun: nothing is visible until the manifest is
    written, and blobs already stored are reused. Never modifies `source` (files are opened
    read-only, without following symlinks). Raises SourceError when `source` is not a
    folder, or when files are unreadable and `options.fail_on_unreadable` is set.
    """
    hub = normalize_hub(hub)
    root = os.path.abspath(os.fspath(source))
    if not os.path.isdir(root):
        raise SourceError(f"{root}: not a folder (the hub's home directories are expected there)")
    started = time.monotonic()
    store = repo.store
    progress = progress or Progress()
    workers = options.workers or (8 if store.is_local else 32)
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    summary = SnapshotSummary(
        id=new_snapshot_id(created),
        hub=hub,
        created=created.isoformat(timespec="seconds"),
        parent=None,
        source=root,
        compression=options.compression,
    )

    with shared_lock(store, f"backup {hub} {summary.id}", options.lock) as lock:
        ids = [] if part is not None else repo.snapshot_ids(hub)
        if part is not None:  # the plan chose both
            summary.id, summary.parent = part.snapshot_id, part.parent
        if ids and ids[-1] >= summary.id:
            summary.id = new_snapshot_id(created, after=ids[-1])
        if options.parent is not None and ids:
            summary.parent = ids[-1] if options.parent == "latest" else repo.resolve(hub, options.parent)
        elif options.parent not in (None, "latest"):
            raise SnapshotNotFoundError(f"no snapshots of {hub} in {repo.url}")
        if summary.parent:
            parent_summary = repo.summary(hub, summary.parent)
            progress.expected_files, progress.expected_bytes = parent_summary.files, parent_summary.bytes
        if log:
            log(
                f"snapshot {summary.id} of {hub} from {root} to {repo.url}"
                + (f", parent {summary.parent}" if summary.parent else ", no parent: every file is read")
            )
        packer = PackWriter(store)
        index = PackIndex(load=lambda: load_index(store))
        contents = ContentStore(store, options.compression == "zstd", index, packer)
        only = part.folders if part is not None else None
        with (
            tempfile.TemporaryDirectory(prefix="hub-ops-backup-") as tmp,
            ThreadPoolExecutor(workers, thread_name_prefix="backup") as pool,
        ):
            distinct = _Distinct(tmp)
            writer = ManifestWriter(os.path.join(tmp, "manifest.parquet"))
            try:
                if summary.parent:
                    with repo.local_manifest(hub, summary.parent) as parent_path:
                        parent = _ParentWindow(iter_batches(parent_path, PARENT_COLUMNS))
                        _pipeline(root, parent, writer, contents, pool, options, summary, progress, distinct, only)
                else:
                    _pipeline(
                        root, _ParentWindow(None), writer, contents, pool, options, summary, progress, distinct, only
                    )
                packer.close()
            except BaseException:
                writer.abort()
                raise
            summary.new_packs = packer.packs
            summary.hashed_files, summary.hashed_bytes = contents.hashed_files, contents.hashed_bytes
            summary.new_blobs, summary.new_bytes = contents.new_blobs, contents.new_bytes
            summary.unique_bytes, summary.stored_bytes = distinct.totals()
            if summary.unreadable_count and options.fail_on_unreadable:
                raise SourceError(
                    f"{summary.unreadable_count} unreadable file(s) under {root}, no snapshot written:\n  "
                    + "\n  ".join(summary.unreadable[:20])
                )
            if summary.new_blobs and options.durable:
                store.flush()
            summary.duration_s = round(time.monotonic() - started, 3)
            writer.close(summary)
            if part is None:
                store.put_bytes(repo.summary_key(hub, summary.id), summary.to_json().encode())
            lock.check()  # a prune may have declared us dead: then nothing we rely on is safe
            key = part.manifest_key if part is not None else repo.manifest_key(hub, summary.id)
            store.put_file(key, writer.path)  # the commit (of a part: parts.commit_parts commits)
    if log:
        log(
            f"snapshot {summary.id}: {summary.files} files, {summary.bytes} bytes, {summary.new_bytes} new bytes "
            f"in {summary.new_blobs} blobs, {summary.duration_s:.1f} s"
        )
    return summary


def _pipeline(
    root: str,
    parent: _ParentWindow,
    writer: ManifestWriter,
    contents: ContentStore,
    pool: ThreadPoolExecutor,
    options: BackupOptions,
    summary: SnapshotSummary,
    progress: Progress,
    distinct: _Distinct,
    only: frozenset[bytes] | None,
) -> None:
    base = os.fsencode(root) + b"/"
    pending: deque[_Pending] = deque()
    for chunk in _in_background(walk_chunks(root, CHUNK, options.walk_threads, only)):
        for kind, n in chunk.skipped.items():
            summary.skipped[kind] = summary.skipped.get(kind, 0) + n
        for path, reason in chunk.unreadable:
            _unreadable(summary, path, reason)
        if not chunk.paths:
            continue
        progress.scanned += len(chunk)
        pending.append(_prepare(chunk, parent, contents, pool, base, options))
        while pending and (pending[0].done() or len(pending) > PIPELINE):
            _finish(pending.popleft(), writer, summary, progress, contents, distinct)
    while pending:
        _finish(pending.popleft(), writer, summary, progress, contents, distinct)


def _in_background(chunks: Iterator[Chunk], depth: int = 2) -> Iterator[Chunk]:
    """Run the walk in a thread of its own: its stat calls overlap this thread's numpy and
    arrow work on the previous chunk."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put_unless_stopped(q, chunk, stop):
                    return
            q.put(done)
        except BaseException as e:  # noqa: BLE001 - raised in the reading thread
            q.put(e)
        finally:
            if stop.is_set():
                chunks.close()

    thread = threading.Thread(target=produce, name="walk", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _prepare(
    chunk: Chunk,
    parent: _ParentWindow,
    contents: ContentStore,
    pool: ThreadPoolExecutor,
    base: bytes,
    options: BackupOptions,
) -> _Pending:
    n = len(chunk)
    sts = chunk.stats

    def field_of(name: str, dtype=np.int64) -> np.ndarray:
        return np.fromiter(map(attrgetter(name), sts), dtype, n)  # 3x faster than a generator

    cols = {name: field_of(name) for name in ("st_mode", "st_size", "st_mtime_ns", "st_ctime_ns", "st_uid", "st_gid")}
    cols = {name[3:]: value for name, value in cols.items()}
    cols["ino"] = field_of("st_ino", np.uint64)
    chunk.stats = []  # ~400 bytes of Python objects per entry: the columns are all we keep
    paths = columns.from_list(chunk.paths, pa.binary())
    fmt = cols["mode"] & stat.S_IFMT(0o177777)
    is_file = fmt == stat.S_IFREG
    cols["size"][~is_file] = 0  # a folder's or link's lstat size says nothing about content
    unchanged = np.zeros(n, dtype=bool)
    parent_cols = None
    last_key = order_key(chunk.paths[-1])
    window = parent.cover(last_key)
    if window is not None and window.num_rows:
        idx = call_function("index_in", [paths], SetLookupOptions(window.column("path")))
        found = columns.valid(idx)
        if found.any():
            take = np.where(found, columns.to_numpy(idx), 0)
            p = call_function("take", [window, columns.from_numpy(take, pa.int32())])

            def col(name: str) -> np.ndarray:
                return columns.to_numpy(p.column(name))

            # equal modes and ours a regular file: the parent's row is a file too
            unchanged = (
                found
                & is_file
                & (cols["size"] == col("size"))
                & (cols["mtime_ns"] == col("mtime_ns"))
                & (cols["mode"] == col("mode"))
            )
            if not options.ignore_inode:
                unchanged &= (cols["ino"] == col("ino")) & (cols["ctime_ns"] == col("ctime_ns"))
            parent_cols = {
                name: p.column(name).combine_chunks() for name in ("digest", "stored_size", "pack", "offset")
            }
        parent.drop_through(last_key)

    todo = np.flatnonzero(is_file & ~unchanged)
    jobs: list[tuple[np.ndarray, Future]] = []
    start, batch_bytes = 0, 0
    sizes = cols["size"]
    for k, i in enumerate(todo):  # batches of small files; a large file alone
        batch_bytes += int(sizes[i])
        if k + 1 - start >= JOB_FILES or batch_bytes >= JOB_BYTES or sizes[i] > SMALL or k + 1 == len(todo):
            group = todo[start : k + 1]
            jobs.append((group, pool.submit(contents.store_files, [base + chunk.paths[j] for j in group])))
            start, batch_bytes = k + 1, 0
    return _Pending(chunk, paths, cols, is_file, unchanged, parent_cols, jobs)


def _finish(
    item: _Pending,
    writer: ManifestWriter,
    summary: SnapshotSummary,
    progress: Progress,
    contents: ContentStore,
    distinct: _Distinct,
) -> None:
    chunk, cols = item.chunk, item.columns
    n = len(chunk)
    keep = np.ones(n, dtype=bool)
    # a chunk where nothing changed (a quiet night): all-null columns, no per-row Python
    new = _stored_columns(item, keep, summary) if item.jobs else {name: pa.nulls(n, t) for name, t in _stored_types()}
    if item.parent is not None:
        mask = columns.from_numpy(item.unchanged, pa.bool_())
        new = {name: call_function("if_else", [mask, item.parent[name], col]) for name, col in new.items()}
    fmt = cols["mode"] & stat.S_IFMT(0o177777)
    kind_code = np.where(fmt == stat.S_IFREG, 1, np.where(fmt == stat.S_IFDIR, 2, np.where(fmt == stat.S_IFLNK, 3, 0)))
    link_targets = pa.nulls(n, pa.binary())
    if chunk.links:
        links: list[bytes | None] = [None] * n
        for i, target in chunk.links.items():
            links[i] = target
        link_targets = columns.from_list(links, pa.binary())
    table = pa.Table.from_arrays(
        [
            item.paths,
            call_function("take", [_kinds(), columns.from_numpy(kind_code, pa.int64())]),
            columns.from_numpy(cols["size"], pa.int64()),
            columns.from_numpy(cols["mtime_ns"], pa.int64()),
            columns.from_numpy(cols["ctime_ns"], pa.int64()),
            columns.from_numpy(cols["mode"], pa.int64()),
            columns.from_numpy(cols["uid"], pa.int64()),
            columns.from_numpy(cols["gid"], pa.int64()),
            columns.from_numpy(cols["ino"], pa.uint64()),
            new["digest"],
            new["stored_size"],
            new["pack"],
            new["offset"],
            link_targets,
        ],
        schema=SCHEMA,
    )
    files = item.is_file
    if not keep.all():
        table = call_function("filter", [table, columns.from_numpy(keep, pa.bool_())])
        files = files[keep]
        kind_code = kind_code[keep]
    writer.write(table)
    nfiles = int(files.sum())
    nbytes = int(columns.to_numpy(table.column("size")).sum())
    summary.files += nfiles
    summary.bytes += nbytes
    summary.dirs += int((kind_code == 2).sum())
    summary.symlinks += int((kind_code == 3).sum())
    progress.files += nfiles
    progress.bytes += nbytes
    progress.new_bytes = contents.new_bytes
    if nfiles:
        file_rows = call_function("filter", [table, columns.from_numpy(files, pa.bool_())])
        distinct.add(
            file_rows.column("digest").combine_chunks(),
            columns.to_numpy(file_rows.column("size")),
            columns.to_numpy(file_rows.column("stored_size")),
        )


def _stored_types() -> list[tuple[str, pa.DataType]]:
    return [("digest", pa.string()), ("stored_size", pa.int64()), ("pack", pa.string()), ("offset", pa.int64())]


def _stored_columns(item: _Pending, keep: np.ndarray, summary: SnapshotSummary) -> dict[str, pa.Array]:
    """Where the contents the workers stored are (null in the other rows); clears `keep`
    for files that vanished or could not be read."""
    chunk, cols = item.chunk, item.columns
    n = len(chunk)
    digests: list[str | None] = [None] * n
    stored: list[int | None] = [None] * n
    packs: list[str | None] = [None] * n
    offsets: list[int | None] = [None] * n
    for group, fut in item.jobs:
        for i, result in zip(group, fut.result()):
            if result == VANISHED:
                keep[i] = False
            elif isinstance(result, FileUnreadable):
                keep[i] = False
                _unreadable(summary, chunk.paths[i], result.reason)
            else:
                digest, (stored_size, pack, offset), size = result
                digests[i], stored[i], packs[i], offsets[i] = digest.hex(), stored_size, pack, offset
                cols["size"][i] = size  # what was read and stored, if the file grew meanwhile
    return {
        "digest": columns.from_list(digests, pa.string()),
        "stored_size": columns.from_optional_ints(stored),
        "pack": columns.from_list(packs, pa.string()),
        "offset": columns.from_optional_ints(offsets),
    }


def _unreadable(summary: SnapshotSummary, path: bytes, reason: str) -> None:
    summary.unreadable_count += 1
    if len(summary.unreadable) < MAX_UNREADABLE_LISTED:
        summary.unreadable.append(f"{os.fsdecode(path)}: {reason}")
