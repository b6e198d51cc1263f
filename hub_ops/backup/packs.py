"""Packs: small contents stored many to an object, and the index that finds them again.

Why: one object per small file costs an object creation each, and that is the slowest
thing a destination does (measured here: 500-600 us to create an empty file on the
project disk under load, 15 us to write into an open one; on GCS, a request and a class A
operation per object). Contents up to PACKED_MAX bytes are appended to a pack of about
PACK_TARGET bytes; larger contents stay one blob each (blobs.py).

- `packs/<ab>/<pack id>`: the encoded contents (each raw or a zstd frame, see blobs.py),
  back to back. Manifests name a packed content by (digest, pack id, offset, stored size),
  so restore and verify read it without any index.
- `index/<pack id>.idx`: which digests a pack holds, written right after the pack (so an
  index never names a missing pack); a backup loads every index to find contents another
  user, night, hub or interrupted run already stored. Prune merges them into one.
  Format: INDEX_MAGIC, then records of INDEX_DTYPE (64 bytes each, little endian).

Memory: the loaded index is 64 bytes per packed content in the destination (64 MB per
million; loaded only when some file changed), plus one pack buffer per writer (at most
PACK_TARGET bytes and PACK_MAX_ENTRIES records).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from hub_ops.backup.errors import BackupIntegrityError
from hub_ops.backup.store import Store

PACKED_MAX = 1 << 20  # contents up to this size (before encoding) are packed
PACK_TARGET = 16 << 20  # a pack is uploaded once it holds this much
PACK_MAX_ENTRIES = 8192  # ... or this many contents: tiny files would otherwise fill a pack's
# in-memory records (one per content) with millions before 16 MiB is reached
INDEX_MAGIC = b"hub_ops-index-v1\n"
INDEX_DTYPE = np.dtype([("digest", "S32"), ("pack", "S16"), ("offset", "<u8"), ("length", "<u8")])
INDEX_PREFIX = "index/"


def record_pack_id(raw: bytes) -> str:
    """A pack id from an index record. numpy's "S" fields drop trailing NUL bytes when read,
    so an id ending in 00 comes back short: pad it to its width again."""
    return raw.ljust(INDEX_DTYPE["pack"].itemsize, b"\0").hex()


def pack_key(pack_id: str) -> str:
    return f"packs/{pack_id[:2]}/{pack_id}"


def index_key(name: str) -> str:
    return f"{INDEX_PREFIX}{name}.idx"


def encode_index(records: np.ndarray) -> bytes:
    return INDEX_MAGIC + records.astype(INDEX_DTYPE, copy=False).tobytes()


def decode_index(data: bytes, where: str) -> np.ndarray:
    if not data.startswith(INDEX_MAGIC) or (len(data) - len(INDEX_MAGIC)) % INDEX_DTYPE.itemsize:
        raise BackupIntegrityError(f"{where}: not a hub_ops index (bad header or truncated)")
    return np.frombuffer(data, dtype=INDEX_DTYPE, offset=len(INDEX_MAGIC))


def index_names(store: Store) -> list[str]:
    """Keys of every index object of the destination."""
    return sorted(o.key for o in store.list(INDEX_PREFIX) if o.key.endswith(".idx") and "/.tmp-" not in o.key)


def load_index(store: Store, keys: Iterable[str] | None = None, workers: int = 16) -> np.ndarray:
    """Every index record of the destination (or of `keys`), sorted by digest."""
    keys = list(index_names(store) if keys is None else keys)
    if not keys:
        return np.zeros(0, INDEX_DTYPE)

    def read(key: str) -> np.ndarray:
        try:
            return decode_index(store.read_bytes(key), store.full_url(key))
        except FileNotFoundError:  # merged away by a prune meanwhile: its records are in the merge
            return np.zeros(0, INDEX_DTYPE)

    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(read, keys))
    records = np.concatenate(parts) if parts else np.zeros(0, INDEX_DTYPE)
    records.sort(order="digest", kind="stable")  # in place: no second copy of the index
    return records


class PackIndex:
    """Read-only lookups digest -> (pack id, offset, length) in the destination's index,
    loaded on the first lookup (a night where nothing changed never loads it). Thread-safe."""

    def __init__(self, records: np.ndarray | None = None, load: Callable[[], np.ndarray] | None = None):
        self._records = records
        self._load = load
        self._lock = threading.Lock()

    def _ready(self) -> np.ndarray:
        if self._records is None:
            with self._lock:
                if self._records is None:
                    self._records = self._load() if self._load else np.zeros(0, INDEX_DTYPE)
        return self._records

    def __len__(self) -> int:
        return len(self._ready())

    def find(self, digest: bytes) -> tuple[str, int, int] | None:
        records = self._ready()
        if not len(records):  # a first backup: ~20 us per content saved
            return None
        digests = records["digest"]
        i = int(digests.searchsorted(digest))
        # numpy compares "S" values NUL-padded, but reads them back stripped: pad before ==
        if i < len(digests) and digests[i].ljust(len(digest), b"\0") == digest:
            r = records[i]
            return record_pack_id(r["pack"]), int(r["offset"]), int(r["length"])
        return None


class PackWriter:
    """Appends encoded contents to packs and uploads each full pack, then its index.

    Thread-safe: `add` returns where the content will be; the pack is in the store only
    after `close()` (or once it filled up). Call `close()` before writing a manifest that
    names any of these locations; `abort()` forgets a pack never uploaded.
    """

    def __init__(self, store: Store, target: int = PACK_TARGET, max_entries: int | None = None):
        self.store, self.target, self.max_entries = store, target, max_entries or PACK_MAX_ENTRIES
        self._lock = threading.Lock()
        self._new()
        self.packs = 0
        self.bytes = 0

    def _new(self) -> None:
        self._id = secrets.token_hex(16)
        self._id_bytes = bytes.fromhex(self._id)  # shared by the pack's records
        # the objects, joined once at upload: a growing bytearray was copied again at each
        # of its ~100 reallocations up to 16 MiB (3.7% of a full backup's samples in memmove)
        self._parts: list[bytes] = []
        self._size = 0
        self._records: list[tuple[bytes, bytes, int, int]] = []

    def add(self, digest: bytes, obj: bytes) -> tuple[str, int]:
        """Place `obj` (an encoded content) in a pack: (pack id, offset)."""
        with self._lock:
            pack_id, offset = self._id, self._size
            self._parts.append(obj)
            self._size += len(obj)
            self._records.append((digest, self._id_bytes, offset, len(obj)))
            full = self._size >= self.target or len(self._records) >= self.max_entries
            if full:
                done = (self._id, self._parts, self._records)
                self._new()
        if full:
            self._upload(*done)  # in the calling worker, outside the lock
        return pack_id, offset

    def _upload(self, pack_id: str, parts: list[bytes], records: list) -> None:
        data = b"".join(parts)
        self.store.put_bytes(pack_key(pack_id), data)
        arr = np.array(records, dtype=INDEX_DTYPE)
        self.store.put_bytes(index_key(pack_id), encode_index(arr))  # after the pack: never names a missing one
        with self._lock:
            self.packs += 1
            self.bytes += len(data)

    def close(self) -> None:
        """Upload the last, partly filled pack (and its index)."""
        with self._lock:
            done = (self._id, self._parts, self._records) if self._parts else None
            self._new()
        if done:
            self._upload(*done)
