"""The object stores answer with the truth about objects other processes wrote or deleted,
even after this process listed their folder (fsspec's listings cache is off)."""

from __future__ import annotations

from hub_ops.backup.store import FsspecStore


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
