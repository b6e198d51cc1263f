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


def special_kind(mode: int) -> str:
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
                kind = special_kind(st.st_mode)
                chunk.skipped[kind] = chunk.skipped.get(kind, 0) + 1
            if len(chunk.paths) >= chunk_size:
                yield chunk
                chunk = Chunk()
        else:
            stack.pop()
    if chunk.paths or chunk.skipped or chunk.unreadable:
        yield chunk


def walk_chunks(
    root: str | os.PathLike, chunk_size: int = 16384, threads: int = 1, only: frozenset[bytes] | None = None
) -> Iterator[Chunk]:
    """Every entry under `root` (not `root` itself), in manifest order, in chunks of about
    `chunk_size` entries. `only`: just these top-level names and what is below them (one
    worker's part of a snapshot, parts.py).

    threads > 1: that many metadata requests in flight (parallel_walk.py), for network
    filesystems where each readdir and lstat is a round trip; the same entries, same
    order. One thread stays the default: on a local disk the calls do not wait, and the
    walkers' Python work shares one GIL.
    """
    base = os.fsencode(os.fspath(root)).rstrip(b"/") or b"/"
    if threads > 1:
        from hub_ops.backup.parallel_walk import walk_chunks_parallel

        chunks = walk_chunks_parallel(base, chunk_size, threads)
        yield from chunks if only is None else (_within(chunk, only) for chunk in chunks)
        return
    listing = _listing(base)
    if only is not None:
        listing = [(name, st) for name, st in listing if name in only]
    yield from _walk(base, b"", listing, chunk_size)


def _within(chunk: Chunk, only: frozenset[bytes]) -> Chunk:
    """The chunk's entries below the top-level names `only` (the parallel walk lists every
    folder; the one-thread walk never enters the others)."""
    keep = [i for i, path in enumerate(chunk.paths) if path.split(b"/", 1)[0] in only]
    return Chunk(
        paths=[chunk.paths[i] for i in keep],
        stats=[chunk.stats[i] for i in keep],
        links={j: chunk.links[i] for j, i in enumerate(keep) if i in chunk.links},
        skipped=chunk.skipped,
        unreadable=[(path, why) for path, why in chunk.unreadable if path.split(b"/", 1)[0] in only],
    )
