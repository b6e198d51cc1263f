"""The walk of scan.py with many metadata requests in flight, for network filesystems.

On NFS (GCP Filestore, AWS EFS) every `readdir` and `lstat` is a round trip of 0.5-2 ms, so
one thread walking 10M files waits hours. Here `threads` workers list folders and lstat
their entries while one reader emits the entries in manifest order, so the output is the
one-thread walk's, entry for entry.

Work is split in tasks: the listing of a folder (its names, sorted) and the lstat of a batch
of BATCH consecutive names of a folder (a large folder is spread over every worker). A
finished listing adds its batches; a finished batch adds the listings of the folders it
found. Workers always take the pending task first in manifest order (the `order_key` of
the first path it covers), so they work just ahead of the reader, and take none while
`lookahead` entries are done but not yet read: memory is bounded by that and by the
pending tasks (names of folders being walked), never by the tree. When the reader needs a
task no worker has started (all busy further ahead) it runs the task itself, so it never
waits on a full lookahead.
"""

from __future__ import annotations

import heapq
import os
import stat
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from hub_ops.backup.scan import Chunk, order_key, special_kind

BATCH = 32  # names per lstat task: small enough that one large folder keeps every worker busy
QUEUED, RUNNING, DONE = 0, 1, 2


@dataclass(eq=False)
class _Task:
    folder: bytes  # relative, '' for the root
    names: list[bytes] | None  # None: list the folder; else lstat these names of it
    state: int = QUEUED
    result: object = None  # names (listing), [(name, lstat, link target)] (batch), or an error
    size: int = 0  # entries held by the result, counted against the lookahead
    done: threading.Event = field(default_factory=threading.Event)
    batches: deque[_Task] = field(default_factory=deque)  # a listing's lstat tasks, in order
    listings: dict[bytes, _Task] = field(default_factory=dict)  # a batch's folders' listings


def _list_names(path: bytes) -> list[bytes] | str:
    """Sorted names of a folder, [] when it vanished, or the reason it cannot be listed."""
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it)
    except FileNotFoundError:
        return []
    except OSError as e:
        return e.strerror or str(e)


def _lstat_batch(base: bytes, folder: bytes, names: list[bytes]) -> list[tuple[bytes, os.stat_result | None, object]]:
    """(name, lstat, symlink target or None) of each name still there; (name, None, the
    OSError) for one that cannot be lstat-ed or its link read."""
    prefix = base + b"/" + folder + b"/" if folder else base + b"/"
    out = []
    for name in names:
        try:
            st = os.lstat(prefix + name)
        except FileNotFoundError:  # removed while we walk: it was never there
            continue
        except OSError as e:
            out.append((name, None, e))
            continue
        target = None
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(prefix + name)
            except FileNotFoundError:
                continue
            except OSError as e:
                out.append((name, None, e))
                continue
        out.append((name, st, target))
    return out


class _Scheduler:
    """Pending tasks by manifest order, the workers that run them, and the results the
    reader has not taken yet."""

    def __init__(self, base: bytes, threads: int, lookahead: int):
        self.base = base
        self.lookahead = lookahead
        self._cv = threading.Condition()
        self._heap: list[tuple[bytes, int, _Task]] = []
        self._seq = 0
        self._held = 0  # entries in finished results the reader has not taken
        self._stop = False
        self._workers = [threading.Thread(target=self._work, name=f"walk-{i}", daemon=True) for i in range(threads)]

    def start(self, root: _Task) -> None:
        self._push(b"", root)
        for t in self._workers:
            t.start()

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        for t in self._workers:
            t.join()

    def _push(self, key: bytes, task: _Task) -> None:
        heapq.heappush(self._heap, (key, self._seq, task))
        self._seq += 1

    def _work(self) -> None:
        while True:
            with self._cv:
                while not self._stop and (not self._heap or self._held >= self.lookahead):
                    self._cv.wait()
                if self._stop:
                    return
                task = heapq.heappop(self._heap)[2]
                if task.state != QUEUED:  # the reader ran it itself
                    continue
                task.state = RUNNING
            self._run(task, held=True)

    def _run(self, task: _Task, held: bool) -> None:
        try:
            if task.names is None:
                path = self.base + b"/" + task.folder if task.folder else self.base
                result = _list_names(path)
            else:
                result = _lstat_batch(self.base, task.folder, task.names)
        except BaseException as e:  # noqa: BLE001 - raised in the reader
            result = e
        with self._cv:
            task.result = result
            if isinstance(result, list):
                task.size = len(result)
                self._follow_ups(task)
            if held:
                self._held += task.size
            task.state = DONE
            task.done.set()
            self._cv.notify_all()

    def _follow_ups(self, task: _Task) -> None:
        """Called with the lock held: the tasks a finished task makes known."""
        folder = task.folder
        sep = folder + b"/" if folder else b""
        if task.names is None:  # a listing: its batches
            names = task.result
            for i in range(0, len(names), BATCH):
                batch = _Task(folder, names[i : i + BATCH])
                task.batches.append(batch)
                self._push(order_key(sep + names[i]), batch)
        else:  # a batch: the listings of the folders in it
            for name, st, _ in task.result:
                if st is not None and stat.S_ISDIR(st.st_mode):
                    listing = _Task(sep + name, None)
                    task.listings[name] = listing
                    self._push(order_key(sep + name), listing)

    def take(self, task: _Task) -> object:
        """The task's result, once (running it here when no worker has started it). The task
        lets go of it: a walked folder's entries are not kept by the tasks around it."""
        with self._cv:
            run_here = task.state == QUEUED
            if run_here:
                task.state = RUNNING
        if run_here:
            self._run(task, held=False)
        task.done.wait()
        if not run_here:
            with self._cv:
                self._held -= task.size
                self._cv.notify_all()
        result, task.result = task.result, None
        if isinstance(result, BaseException):
            raise result
        return result


def walk_chunks_parallel(root: bytes, chunk_size: int, threads: int, lookahead: int = 16384) -> Iterator[Chunk]:
    """scan.walk_chunks with `threads` workers: the same chunks' entries in the same order."""
    scheduler = _Scheduler(root, threads, lookahead)
    top = _Task(b"", None)
    scheduler.start(top)
    chunk = Chunk()
    try:
        listing = scheduler.take(top)
        if isinstance(listing, str):
            raise OSError(f"{os.fsdecode(root)}: {listing}")
        stack = [top.batches]  # per folder being walked: its batches not read yet
        entries: list[Iterator] = [iter(())]  # per folder: the rest of the current batch
        batch_of: list[_Task | None] = [None]
        while stack:
            item = next(entries[-1], None)
            if item is None:
                if not stack[-1]:
                    stack.pop(), entries.pop(), batch_of.pop()
                    continue
                batch = stack[-1].popleft()
                entries[-1] = iter(scheduler.take(batch))
                batch_of[-1] = batch
                continue
            name, st, target = item
            batch = batch_of[-1]
            rel = (batch.folder + b"/" + name) if batch.folder else name
            if st is None:
                chunk.unreadable.append((rel, target.strerror or str(target)))
                continue
            fmt = stat.S_IFMT(st.st_mode)
            if fmt == stat.S_IFDIR:
                chunk.paths.append(rel)
                chunk.stats.append(st)
                sub = batch.listings.pop(name)
                names = scheduler.take(sub)
                if isinstance(names, str):
                    chunk.unreadable.append((rel, names))
                elif names:
                    stack.append(sub.batches)
                    entries.append(iter(()))
                    batch_of.append(None)
            elif fmt in (stat.S_IFREG, stat.S_IFLNK):
                if target is not None:
                    chunk.links[len(chunk.paths)] = target
                chunk.paths.append(rel)
                chunk.stats.append(st)
            else:
                kind = special_kind(st.st_mode)
                chunk.skipped[kind] = chunk.skipped.get(kind, 0) + 1
            if len(chunk.paths) >= chunk_size:
                yield chunk
                chunk = Chunk()
        if chunk.paths or chunk.skipped or chunk.unreadable:
            yield chunk
    finally:
        scheduler.close()
