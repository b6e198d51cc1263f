"""Fixed-width numpy records spilled to bucket files on disk, read back one bucket at a time:
a global view (de-duplicating, grouping) of one record per file of a snapshot in a memory
bounded by a bucket, not by the number of files."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

BUCKETS = 64
FLUSH = 16384  # records buffered before they go to the bucket files


class Buckets:
    """Records of `dtype` appended to BUCKETS files in `folder` (named `name`-NN) by the
    bucket number given with them; `read(b)` returns bucket `b` in the order appended."""

    def __init__(self, folder: str, name: str, dtype: np.dtype):
        self._prefix = os.path.join(folder, name)
        self.dtype = dtype
        self._records: list[np.ndarray] = []
        self._buckets: list[np.ndarray] = []
        self._buffered = 0

    def add(self, records: np.ndarray, buckets: np.ndarray) -> None:
        if len(records):
            self._records.append(records)
            self._buckets.append(buckets)
            self._buffered += len(records)
            if self._buffered >= FLUSH:
                self.flush()

    def flush(self) -> None:
        if not self._buffered:
            return
        records, buckets = np.concatenate(self._records), np.concatenate(self._buckets)
        self._records, self._buckets, self._buffered = [], [], 0
        order = np.argsort(buckets, kind="stable")  # appended order kept within a bucket
        records, buckets = records[order], buckets[order]
        bounds = np.searchsorted(buckets, np.arange(BUCKETS + 1))
        for b in range(BUCKETS):
            if bounds[b] < bounds[b + 1]:
                with open(f"{self._prefix}-{b:02d}", "ab") as f:
                    records[bounds[b] : bounds[b + 1]].tofile(f)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every non-empty bucket, in bucket order."""
        self.flush()
        for b in range(BUCKETS):
            path = f"{self._prefix}-{b:02d}"
            if os.path.exists(path):
                yield np.fromfile(path, self.dtype)


def digest_keys(hex_digests: list[str]) -> np.ndarray:
    """64-character hex digests as 32-byte binary keys (numpy void), which sort like the hex."""
    return np.frombuffer(bytes.fromhex("".join(hex_digests)), "V32")


def digest_bucket(keys: np.ndarray) -> np.ndarray:
    """The bucket of each binary key (numpy void, any width): its top 6 bits, so buckets
    are ranges of digests."""
    return np.ascontiguousarray(keys).view(np.uint8)[:: keys.dtype.itemsize] >> 2
