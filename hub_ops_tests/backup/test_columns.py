"""Arrays built from buffers equal what pyarrow's own constructors build (which the engine
avoids only because they import pandas)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from hub_ops.backup import columns


def test_arrays_equal_pyarrows_own():
    paths = [b"ada/notes.md", b"", b"bob/\xff-not-utf8"]
    assert columns.from_list(paths, pa.binary()).equals(pa.array(paths, pa.binary()))
    names = ["ada", "\u00e9t\u00e9", ""]  # no null: the path built without a validity pass
    assert columns.from_list(names, pa.string()).equals(pa.array(names, pa.string()))
    digests = ["ab" * 32, None, "", "c0"]
    assert columns.from_list(digests, pa.string()).equals(pa.array(digests, pa.string()))
    ints = [3, None, 0, -7]
    assert columns.from_optional_ints(ints).equals(pa.array(ints, pa.int64()))
    values = np.array([5, 1 << 40, 0], np.uint64)
    assert columns.from_numpy(values, pa.uint64()).equals(pa.array(values))
    mask = np.array([True, False, True] * 5)
    assert columns.from_numpy(mask, pa.bool_()).equals(pa.array(mask))


def test_to_numpy_and_valid_respect_offsets_and_chunks():
    array = pa.array([1, None, 3, 4, None, 6], pa.int64()).slice(1, 4)  # None, 3, 4, None
    assert columns.valid(array).tolist() == [False, True, True, False]
    assert columns.to_numpy(array)[[1, 2]].tolist() == [3, 4]
    chunked = pa.chunked_array([pa.array([True, False]), pa.array([False, True, True])])
    assert columns.to_numpy(chunked).tolist() == [True, False, False, True, True]
    assert columns.valid(pa.array([7, 8])).tolist() == [True, True]
