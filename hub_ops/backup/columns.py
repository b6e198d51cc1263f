"""Arrow arrays to and from numpy and Python lists, built from their buffers.

Why not `pa.array(...)` and `Array.to_numpy()`: pyarrow's first call of either imports
pandas (~1 s and ~50 MB here) only to ask whether the input is a pandas object, and every
backup process paid that. These build the same arrays straight from their buffers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_NUMPY = {pa.int64(): np.int64, pa.uint64(): np.uint64, pa.int32(): np.int32, pa.uint32(): np.uint32}


def _bitmap(valid: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def from_numpy(values: np.ndarray, type: pa.DataType) -> pa.Array:
    """A fixed-width array (no nulls) sharing `values`' memory (cast to the type's width)."""
    if type == pa.bool_():
        return pa.Array.from_buffers(type, len(values), [None, _bitmap(np.asarray(values, bool))])
    values = np.ascontiguousarray(values, dtype=_NUMPY[type])
    return pa.Array.from_buffers(type, len(values), [None, pa.py_buffer(values)])


def from_list(values: list, type: pa.DataType) -> pa.Array:
    """A binary or string array from bytes (binary) or str (string) values, None for null."""
    if pa.types.is_string(type):
        values = [None if v is None else v.encode() for v in values]
    n = len(values)
    if None not in values:  # paths: no null to look for, lengths in C (map(len))
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(np.fromiter(map(len, values), np.int64, n), out=offsets[1:])
        return pa.Array.from_buffers(type, n, [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(values))])
    valid = np.fromiter((v is not None for v in values), bool, n)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.fromiter((len(v) if v is not None else 0 for v in values), np.int64, n), out=offsets[1:])
    data = b"".join(v for v in values if v is not None)
    nulls = n - int(valid.sum())
    bitmap = _bitmap(valid) if nulls else None
    return pa.Array.from_buffers(type, n, [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)], null_count=nulls)


def from_optional_ints(values: list[int | None]) -> pa.Array:
    """An int64 array from ints, None for null."""
    n = len(values)
    valid = np.fromiter((v is not None for v in values), bool, n)
    data = np.fromiter((v or 0 for v in values), np.int64, n)
    nulls = n - int(valid.sum())
    bitmap = _bitmap(valid) if nulls else None
    return pa.Array.from_buffers(pa.int64(), n, [bitmap, pa.py_buffer(data)], null_count=nulls)


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of a fixed-width array as numpy (null slots hold whatever the buffer has:
    mask them with `valid`). Booleans come back as bool."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type == pa.bool_():
        bits = np.unpackbits(np.frombuffer(array.buffers()[1], np.uint8), bitorder="little")
        return bits[array.offset : array.offset + len(array)].astype(bool)
    return np.frombuffer(array.buffers()[1], _NUMPY[array.type])[array.offset : array.offset + len(array)]


def valid(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Where `array` is not null, as numpy bools."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.null_count == 0:
        return np.ones(len(array), bool)
    bits = np.unpackbits(np.frombuffer(array.buffers()[0], np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)].astype(bool)
