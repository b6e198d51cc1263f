"""Walk a folder of home directories as a stream of chunks, in manifest order.

Order: depth first, the names of each folder sorted by their bytes. Comparing two paths in
that order is comparing them as bytes with '/' read as the lowest byte (`order_key`), so a
walk and a manifest written in walk order can be merged like two sorted lists, in one pass
and bounded memory, however many files there are.

The walk hands out chunks of up to `chunk_size` entries (paths and lstat results) so the
caller can work on columns (numpy/arrow) instead of one Python object per file: the
no-change backup is mostly this walk, and per-entry Python work is what it costs.

Paths are bytes (POSIX names need not be UTF-8). Symlinks are reported, never followed;
sockets, FIFOs and devices are counted as skipped; a folder that cannot be listed is
reported as unreadable and the walk goes on.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

FILE, DIR, LINK = "f", "d", "l"


def put_unless_stopped(q: queue.Queue, item, stop: threading.Event) -> bool:
    """Put `item` on a bounded queue, waiting while it is full. False once `stop` is set (the
    consumer gave up), also right after a put: the producer must not advance its source
    again (a generator step may do work the consumer no longer expects)."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.2)
            return not stop.is_set()
        except queue.Full:
            continue
    return False


@dataclass
class Chunk:
    paths: list[bytes] = field(default_factory=list)  # relative to the root, '/'-separated
    stats: list[os.stat_result] = field(default_factory=list)  # lstat of each path
    links: dict[int, bytes] = field(default_factory=dict)  # index -> symlink target
    skipped: dict[str, int] = field(default_factory=dict)  # "socket" | "fifo" | "device" -> count
    unreadable: list[tuple[bytes, str]] = field(default_factory=list)  # (path, reason)

    def __len__(self) -> int:
        return len(self.paths)


def order_key(path: bytes) -> bytes:
    return path.replace(b"/", b"\x00")


def _special_kind(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISFIFO(mode):
        return "fifo"
    return "device"


def _listing(path: bytes) -> list[tuple[bytes, os.stat_result]]:
    items = []
    with os.scandir(path) as it:
        for e in it:
            try:
                items.append((e.name, e.stat(follow_symlinks=False)))
            except FileNotFoundError:  # removed while we walk: it was never there
                continue
    items.sort()  # by name: names in one folder are unique, so stats are never compared
    return items


def _walk(base: bytes, prefix: bytes, listing: list, chunk_size: int) -> Iterator[Chunk]:
    """Depth-first walk below `prefix` (relative, ending in '/', or empty for the root)."""
    stack: list[tuple[bytes, Iterator]] = [(prefix, iter(listing))]
    chunk = Chunk()
    S_IFMT, S_IFREG, S_IFDIR, S_IFLNK = stat.S_IFMT, stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK
    while stack:
        prefix, items = stack[-1]
        for name, st in items:
            rel = prefix + name
            fmt = S_IFMT(st.st_mode)
            if fmt == S_IFREG:
                chunk.paths.append(rel)
                chunk.stats.append(st)
            elif fmt == S_IFDIR:
                chunk.paths.append(rel)
                chunk.stats.append(st)
                try:
                    children = _listing(base + b"/" + rel)
                except FileNotFoundError:
                    children = []
                except OSError as e:
                    chunk.unreadable.append((rel, e.strerror or str(e)))
                    children = []
                if children:
                    stack.append((rel + b"/", iter(children)))
                    if len(chunk.paths) >= chunk_size:
                        yield chunk
                        chunk = Chunk()
                    break  # descend first: depth-first order
            elif fmt == S_IFLNK:
                try:
                    target = os.readlink(base + b"/" + rel)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    chunk.unreadable.append((rel, e.strerror or str(e)))
                    continue
                chunk.links[len(chunk.paths)] = target
                chunk.paths.append(rel)
                chunk.stats.append(st)
            else:
                kind = _special_kind(st.st_mode)
                chunk.skipped[kind] = chunk.skipped.get(kind, 0) + 1
            if len(chunk.paths) >= chunk_size:
                yield chunk
                chunk = Chunk()
        else:
            stack.pop()
    if chunk.paths or chunk.skipped or chunk.unreadable:
        yield chunk


def _merge(into: Chunk, other: Chunk) -> None:
    offset = len(into.paths)
    into.paths += other.paths
    into.stats += other.stats
    for i, target in other.links.items():
        into.links[offset + i] = target
    for kind, n in other.skipped.items():
        into.skipped[kind] = into.skipped.get(kind, 0) + n
    into.unreadable += other.unreadable


_DONE = object()


def walk_chunks(root: str | os.PathLike, chunk_size: int = 16384, threads: int = 1) -> Iterator[Chunk]:
    """Every entry under `root` (not `root` itself), in manifest order, in chunks of about
    `chunk_size` entries.

    With threads > 1 the top-level folders (the users' homes) are walked by that many
    threads at once, each into a small bounded queue read in order. That is for network
    filesystems (NFS homes), where each stat is a round trip and walkers mostly wait; on a
    local disk of a busy 2-core machine it measured no faster than one walker (the GIL).
    Memory stays bounded: at most `threads` homes in flight, each holding two chunks.
    """
    base = os.fsencode(os.fspath(root)).rstrip(b"/") or b"/"
    top = _listing(base)
    if threads <= 1:
        yield from _walk(base, b"", top, chunk_size)
        return
    stop = threading.Event()

    def walk_home(name: bytes, q: queue.Queue) -> None:
        try:
            try:
                listing = _listing(base + b"/" + name)
            except FileNotFoundError:
                listing = []
            except OSError as e:
                q.put(Chunk(unreadable=[(name, e.strerror or str(e))]))
                listing = []
            for chunk in _walk(base, name + b"/", listing, chunk_size):
                if not put_unless_stopped(q, chunk, stop):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the reader, raised there
            q.put(e)
        finally:
            q.put(_DONE)

    homes = [i for i, (_, st) in enumerate(top) if stat.S_ISDIR(st.st_mode)]
    queues: dict[int, queue.Queue] = {}
    pool = ThreadPoolExecutor(threads, thread_name_prefix="walk")
    next_home = 0

    def start_more() -> None:
        nonlocal next_home
        while next_home < len(homes) and len(queues) < threads:
            i = homes[next_home]
            queues[i] = queue.Queue(maxsize=2)
            pool.submit(walk_home, top[i][0], queues[i])
            next_home += 1

    out = Chunk()
    try:
        start_more()
        for i, item in enumerate(top):
            # the top-level entry itself, as the one-thread walk would emit it
            for chunk in (
                _walk(base, b"", [item], chunk_size)
                if not stat.S_ISDIR(item[1].st_mode)
                else [Chunk(paths=[item[0]], stats=[item[1]])]
            ):
                _merge(out, chunk)
            if i in queues:
                q = queues[i]
                while (got := q.get()) is not _DONE:
                    if isinstance(got, BaseException):
                        raise got
                    _merge(out, got)
                    if len(out.paths) >= chunk_size:
                        yield out
                        out = Chunk()
                del queues[i]
                start_more()
            if len(out.paths) >= chunk_size:
                yield out
                out = Chunk()
        if out.paths or out.skipped or out.unreadable:
            yield out
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
