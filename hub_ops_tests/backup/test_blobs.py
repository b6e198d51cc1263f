"""Encoding of contents, pack indexes, destination names."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from hub_ops.backup import BackupError, BackupIntegrityError, blobs
from hub_ops.backup.packs import INDEX_DTYPE, PackIndex, decode_index, encode_index
from hub_ops.backup.repository import new_snapshot_id, normalize_hub, snapshot_time


@pytest.mark.parametrize("data", [b"", b"x", b"text " * 1000, os.urandom(5000), blobs.ZSTD_MAGIC + b"not a frame"])
@pytest.mark.parametrize("compress", [True, False])
def test_encode_decode_round_trip(data, compress):
    obj = blobs.encode(data, compress)
    assert blobs.decode(obj) == data
    assert b"".join(bytes(c) for c in blobs.iter_decoded(io.BytesIO(obj))) == data
    if data.startswith(blobs.ZSTD_MAGIC):
        assert obj != data, "content that looks like zstd is always framed"
    if not compress and not data.startswith(blobs.ZSTD_MAGIC):
        assert obj == data


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("chunk", [blobs.CHUNK, 100_000])
def test_streamed_chunks_in_a_reused_buffer_are_the_content(compress, chunk):
    data = os.urandom(blobs.CHUNK + 12345) + b"smooth " * (blobs.CHUNK // 5)  # more than two chunks
    f = io.BytesIO()
    encoder = blobs.StreamEncoder(f, compress)
    encoder.write(data)
    encoder.finish()
    f.seek(0)
    chunks = [bytes(c) for c in blobs.iter_decoded(f, chunk)]  # each copied before the next
    assert b"".join(chunks) == data
    assert max(map(len, chunks)) <= chunk and len(chunks) >= len(data) // chunk


def test_incompressible_small_contents_are_stored_raw():
    data = os.urandom(10_000)
    assert blobs.encode(data, True) == data
    assert len(blobs.encode(b"a" * 10_000, True)) < 100


def test_pack_index_round_trip_and_lookup():
    records = np.zeros(3, INDEX_DTYPE)
    for i, r in enumerate(records):
        r["digest"] = bytes([i]) * 32
        r["pack"] = bytes([9]) * 16
        r["offset"] = i * 100
        r["length"] = 100
    index = PackIndex(np.sort(decode_index(encode_index(records), "x"), order="digest"))
    assert index.find(bytes([1]) * 32) == ("09" * 16, 100, 100)
    assert index.find(bytes([7]) * 32) is None
    with pytest.raises(BackupIntegrityError, match="idx-file: not a hub_ops index"):
        decode_index(encode_index(records)[:-5], "idx-file")


def test_pack_index_keeps_ids_and_digests_ending_in_nul_bytes():
    """numpy's "S" fields read back without trailing NULs: a pack id ending in 00 must still
    come back whole (1 pack in 256 does), and a digest ending in 00 must still be found."""
    records = np.zeros(2, INDEX_DTYPE)
    records[0] = (b"\x01" * 31 + b"\0", b"\xab" * 15 + b"\0", 0, 10)
    records[1] = (b"\x02" * 30 + b"\0\0", b"\0" * 16, 10, 20)
    index = PackIndex(np.sort(decode_index(encode_index(records), "x"), order="digest"))
    assert index.find(b"\x01" * 31 + b"\0") == ("ab" * 15 + "00", 0, 10)
    assert index.find(b"\x02" * 30 + b"\0\0") == ("00" * 16, 10, 20)
    assert index.find(b"\x01" * 31 + b"\x02") is None


def test_hub_names_cannot_steer_keys():
    assert normalize_hub("pangeo-hubs.prod") == "pangeo-hubs/prod"
    for bad in ("../x", "a/b/c", "A/b", "a/", "a/../b", "/a/b"):
        with pytest.raises(BackupError, match="expected CLUSTER/HUB"):
            normalize_hub(bad)


def test_snapshot_ids_sort_by_time_even_within_a_millisecond():
    a = new_snapshot_id()
    b = new_snapshot_id(snapshot_time(a), after=a)
    assert b > a and snapshot_time(b) > snapshot_time(a)
