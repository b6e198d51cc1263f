"""Read, hash and store file contents: each distinct content is uploaded once.

Workers (threads: BLAKE3, zstd and file I/O release the GIL) call `store_files` on small
batches of paths. Before uploading a content the destination is asked whether its blob
exists (another user, hub or night, or an interrupted run, may have stored it); contents
in flight in two threads at once are uploaded by one while the other waits.

Contents up to packs.PACKED_MAX go into packs (found again through the destination's
index); larger ones are blobs of their own (found again by their key). Files up to SMALL
are read whole. Larger files stream: to a local destination in one pass (hashed while
written compressed to a staging file, renamed to its digest's key, or dropped if that
content is already stored); to a remote one in two passes (hash first, then upload only
a new content, hashing again: if the hashes differ the file changed under us and it is
read again, 3 attempts), because a remote object cannot be renamed for free.

A stored content's location is (stored size, pack id or None, offset or None).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator

from hub_ops.backup import blobs
from hub_ops.backup.packs import PACKED_MAX, PackIndex, PackWriter
from hub_ops.backup.store import Store

Location = tuple[int, "str | None", "int | None"]  # stored size, pack id, offset

SMALL = 8 << 20
KNOWN_MAX = 1 << 14  # ~3 MB: a cap on memory, whatever the number of files
_O_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

VANISHED = "vanished"  # result marker: the file disappeared after the walk saw it


class FileUnreadable(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Vanished(Exception):
    pass


class _Changed(Exception):
    pass


class _Counting:
    def __init__(self, writer):
        self._w, self.count = writer, 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        return self._w.write(data)

    def commit(self, *key: str) -> None:
        self._w.commit(*key)

    def abort(self) -> None:
        self._w.abort()


def _chunks(fd: int) -> Iterator[memoryview]:
    """The rest of the file open as `fd`, as views of one reused buffer (each valid until the
    next is asked for): a fresh CHUNK-sized bytes per read cost page faults and zeroing."""
    buffer = bytearray(blobs.CHUNK)
    view = memoryview(buffer)
    while n := os.readv(fd, [buffer]):
        yield view[:n]


class ContentStore:
    """Hash files and make sure each distinct content is stored once. Thread-safe."""

    def __init__(self, store: Store, compress: bool, index: PackIndex, packer: PackWriter):
        self.store, self.compress, self.index, self.packer = store, compress, index, packer
        # digest -> location of contents stored (or found) this run, newest last; ~200 bytes
        # each, capped at KNOWN_MAX by forgetting the older half (a content seen again after
        # that is looked up in the store and, if packed this run, stored once more: a few
        # wasted bytes, never a wrong answer)
        self._known: dict[bytes, Location] = {}
        self._inflight: dict[bytes, threading.Lock] = {}
        self._lock = threading.Lock()
        self.new_blobs = self.new_bytes = self.hashed_files = self.hashed_bytes = 0

    def store_files(self, paths: list[bytes]) -> list[tuple[bytes, Location, int] | str | FileUnreadable]:
        """For each path: (digest, location, content size), VANISHED, or FileUnreadable."""
        out: list = []
        for path in paths:
            try:
                out.append(self.store_file(path))
            except _Vanished:
                out.append(VANISHED)
            except FileUnreadable as e:
                out.append(e)
        return out

    def store_file(self, path: bytes) -> tuple[bytes, Location, int]:
        for _attempt in range(3):
            try:
                fd = os.open(path, _O_FLAGS)
            except FileNotFoundError:
                raise _Vanished() from None
            except OSError as e:
                raise FileUnreadable(e.strerror or str(e)) from None
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise _Vanished()
                if st.st_size <= SMALL:
                    result = self._small(fd, st.st_size)
                elif self.store.is_local:
                    result = self._large_one_pass(fd)
                else:
                    result = self._large(fd)
            except OSError as e:
                raise FileUnreadable(e.strerror or str(e)) from None
            finally:
                os.close(fd)
            if result is not None:
                return result
        raise FileUnreadable("kept changing while being read (3 attempts)")

    def _count_hashed(self, size: int) -> None:
        with self._lock:
            self.hashed_files += 1
            self.hashed_bytes += size

    def _small(self, fd: int, size: int) -> tuple[bytes, Location, int]:
        # ask for the size fstat gave (+1 to see growth): a fixed large request makes every
        # read allocate that much, which measured as +500 MB of fragmented heap on 200k files
        parts = []
        while True:
            chunk = os.read(fd, size + 1 if not parts else max(size, 1 << 16))  # not SMALL: see above
            if not chunk:
                break
            parts.append(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        h = blobs.hasher()
        h.update(data)
        d = h.digest()
        self._count_hashed(len(data))
        if len(data) <= PACKED_MAX:
            loc = self._ensure(d, True, lambda: self._pack(d, data))
        else:
            loc = self._ensure(d, False, lambda: self._put_blob(d, data))
        return d, loc, len(data)

    def _pack(self, digest: bytes, data: bytes) -> Location:
        obj = blobs.encode(data, self.compress)
        pack_id, offset = self.packer.add(digest, obj)
        return len(obj), pack_id, offset

    def _put_blob(self, digest: bytes, data: bytes) -> Location:
        obj = blobs.encode(data, self.compress)
        self.store.put_bytes(blobs.blob_key(digest.hex()), obj)
        return len(obj), None, None

    def _large_one_pass(self, fd: int) -> tuple[bytes, Location, int]:
        staging = _Counting(self.store.open_staging("blobs/"))
        h, size, enc = blobs.hasher(), 0, None
        committed = False
        try:
            for chunk in _chunks(fd):
                if enc is None:  # zstd-looking content is always framed (see blobs.py)
                    enc = blobs.StreamEncoder(staging, self.compress or chunk[:4] == blobs.ZSTD_MAGIC)
                h.update(chunk)
                size += len(chunk)
                enc.write(chunk)
            if enc is not None:
                enc.finish()
            d = h.digest()
            self._count_hashed(size)

            def publish() -> Location:
                nonlocal committed
                staging.commit(blobs.blob_key(d.hex()))
                committed = True
                return staging.count, None, None

            loc = self._ensure(d, False, publish)
        finally:
            if not committed:
                staging.abort()  # already stored (another file, user, night) or failed
        return d, loc, size

    def _large(self, fd: int) -> tuple[bytes, Location, int] | None:
        h = blobs.hasher()
        sample = b""
        size = 0
        for chunk in _chunks(fd):
            if not sample:
                sample = bytes(chunk[: blobs.SAMPLE_BYTES])
            h.update(chunk)
            size += len(chunk)
        d = h.digest()
        self._count_hashed(size)

        def upload() -> Location:
            # zstd stores incompressible blocks raw at ~1.4 GB/s, so large files are always
            # compressed: a file half noise, half measurements still shrinks by its half
            compress = self.compress or sample[:4] == blobs.ZSTD_MAGIC
            writer = _Counting(self.store.open_writer(blobs.blob_key(d.hex())))
            enc = blobs.StreamEncoder(writer, compress)
            h2, n = blobs.hasher(), 0
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                for chunk in _chunks(fd):
                    h2.update(chunk)
                    n += len(chunk)
                    enc.write(chunk)
                if h2.digest() != d or n != size:
                    raise _Changed()
                enc.finish()
            except BaseException:
                writer.abort()
                raise
            writer.commit()
            return writer.count, None, None

        try:
            loc = self._ensure(d, False, upload)
        except _Changed:
            return None  # the file changed between the two reads: read it again
        return d, loc, size

    def _find(self, digest: bytes, packed: bool) -> Location | None:
        if packed:
            found = self.index.find(digest)
            return (found[2], found[0], found[1]) if found else None
        existing = self.store.stat(blobs.blob_key(digest.hex()))
        return (existing.size, None, None) if existing else None

    def _ensure(self, digest: bytes, packed: bool, put: Callable[[], Location]) -> Location:
        """Where the content `digest` is stored, calling `put()` if nobody has it yet."""
        while True:
            with self._lock:
                if digest in self._known:
                    return self._known[digest]
                busy = self._inflight.get(digest)
                mine = busy is None
                if mine:  # held until the content is stored (a Lock: an Event costs ~10 us to make)
                    busy = self._inflight[digest] = threading.Lock()
                    busy.acquire()
            if not mine:
                with busy:  # waits for its owner to finish
                    pass
                continue  # known now, or its owner failed and we try ourselves
            loc = None
            try:
                loc = self._find(digest, packed)
                if loc is None:
                    loc = put()
                    with self._lock:
                        self.new_blobs += 1
                        self.new_bytes += loc[0]
                return loc
            finally:
                with self._lock:
                    if loc is not None:
                        self._known[digest] = loc
                        if len(self._known) > KNOWN_MAX:
                            keep = list(self._known.items())[KNOWN_MAX // 2 :]
                            self._known = dict(keep)
                    del self._inflight[digest]
                busy.release()
