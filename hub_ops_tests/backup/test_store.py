"""The object stores answer with the truth about objects other processes wrote or deleted,
even after this process listed their folder (fsspec's listings cache is off)."""

from __future__ import annotations

import os

from hub_ops.backup.store import WRITEBACK_EVERY, FsspecStore, LocalStore, start_writeback


def test_stat_sees_what_another_client_wrote_and_deleted_after_a_listing(cloud_destination):
    store = cloud_destination.repo().store
    store.put_bytes("blobs/ab/first", b"1")
    assert [o.key for o in store.list("blobs/")] == ["blobs/ab/first"]  # this process listed blobs/ab/
    # another process: a separate client instance of the same store
    fs = type(store.fs)(**store.fs.storage_options, skip_instance_cache=True)
    other = FsspecStore(fs, store.root, store.url)
    other.put_bytes("blobs/ab/second", b"22")
    assert store.stat("blobs/ab/second").size == 2
    other.delete("blobs/ab/first")
    assert store.stat("blobs/ab/first") is None
    assert store.replace_existing("blobs/ab/first", b"back?") is False
    assert store.stat("blobs/ab/first") is None


def test_read_range_answers_like_a_local_file_past_the_end(destination):
    """A range past the end, on an empty object or of no bytes reads b"" as os.pread does (Azure
    answers such a range with 416 InvalidRange; a zero length would mean "to the end")."""
    store = destination.repo().store
    store.put_bytes("packs/empty", b"")
    store.put_bytes("packs/ten", b"0123456789")
    assert store.read_range("packs/ten", 2, 5) == b"234"
    assert store.read_range("packs/ten", 7, 20) == b"789"
    assert store.read_range("packs/ten", 4, 4) == b""
    assert store.read_range("packs/ten", 10, 15) == b""
    assert store.read_range("packs/ten", 12, 15) == b""
    assert store.read_range("packs/empty", 0, 8) == b""


def test_local_writes_start_their_writeback_and_keep_their_bytes(tmp_path):
    """Writeback is asked for on files (the kernel refuses it on a pipe: False, no error), and
    objects written whole or streamed past WRITEBACK_EVERY read back byte for byte."""
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x" * 8192)
        f.flush()
        assert start_writeback(f.fileno()) is True
    r, w = os.pipe()
    try:
        assert start_writeback(w) is False
    finally:
        os.close(r)
        os.close(w)
    store = LocalStore(str(tmp_path / "dest"), "file://dest")
    store.put_bytes("packs/ab/one", b"pack bytes")
    part = os.urandom(1 << 20)
    writer = store.open_writer("blobs/cd/two")
    for _ in range(WRITEBACK_EVERY // len(part) + 3):
        writer.write(part)
    writer.commit()
    assert store.read_bytes("packs/ab/one") == b"pack bytes"
    assert store.read_bytes("blobs/cd/two") == part * (WRITEBACK_EVERY // len(part) + 3)
