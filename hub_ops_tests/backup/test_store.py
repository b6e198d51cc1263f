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
