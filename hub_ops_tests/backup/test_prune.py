"""Prune: forgets what the policy drops, deletes only contents no kept snapshot needs, and
never races a running backup."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub_ops.backup import (
    LockError,
    LockPolicy,
    RetentionPolicy,
    create_snapshot,
    prune,
    restore_snapshot,
    verify_snapshot,
)
from hub_ops.backup.locks import exclusive_lock, shared_lock
from hub_ops.backup.packs import index_names
from hub_ops_tests.backup.trees import diff_trees, read_tree

# one step of a destination's life: back up hub h with version v of its files, or prune hub h
steps = st.lists(
    st.one_of(
        st.tuples(st.just("backup"), st.sampled_from(["c/a", "c/b"]), st.integers(0, 3)),
        st.tuples(
            st.just("prune"),
            st.sampled_from(["c/a", "c/b"]),
            st.builds(RetentionPolicy, st.integers(0, 2), st.integers(0, 2), st.just(0), st.just(0)),
        ),
    ),
    min_size=2,
    max_size=9,
)


def _version(root: Path, hub: str, v: int) -> None:
    """Homes whose contents depend on the version (and partly on the hub, partly shared)."""
    if root.exists():
        shutil.rmtree(root)
    for u in range(2):
        d = root / f"user{u}"
        d.mkdir(parents=True)
        (d / "shared.txt").write_text("shared by every hub and version\n")
        (d / "notes.txt").write_text(f"{hub} user {u} version {v}\n" * 20)
        (d / f"v{v}.bin").write_bytes(bytes([v]) * (1 << 20 if u == 0 and v % 2 else 1000))  # a blob or packed
        if v >= 2:
            (d / "old.txt").write_text(f"from version {v // 2}\n")


def test_prune_never_deletes_what_a_kept_snapshot_needs(destination, tmp_path):
    """Random interleavings of backups of two hubs and prunes with random policies (grace 0,
    the harshest): after every prune, every remaining snapshot of either hub verifies deep
    and restores exactly the files it was taken from."""
    examples = {"file": 30, "gcs": 6, "s3": 3, "az": 3}[destination.kind]

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(plan=steps)
    def life(plan):
        prefix = f"run{time.monotonic_ns()}"
        repo = destination.repo()
        expected: dict[tuple[str, str], dict] = {}
        for step in plan:
            hub = step[1] + prefix[-5:]  # fresh hubs per example: the destination is shared
            if step[0] == "backup":
                src = tmp_path / "src"
                _version(src, step[1], step[2])
                s = create_snapshot(repo, hub, src)
                expected[(hub, s.id)] = read_tree(src)
                continue
            prune(repo, hub, step[2], grace_s=0)
            alive = {(h, i) for h in {k[0] for k in expected} for i in repo.snapshot_ids(h)}
            assert alive <= set(expected)
            for h, sid in sorted(alive):
                assert verify_snapshot(repo, h, sid, deep=True).problems == []
                out = tmp_path / "out"
                if out.exists():
                    shutil.rmtree(out)
                restore_snapshot(repo, h, out, sid)
                assert diff_trees(expected[(h, sid)], read_tree(out)) == []

    life()


def _homes(src: Path, tag: str) -> None:
    if src.exists():
        shutil.rmtree(src)
    (src / "u").mkdir(parents=True)
    (src / "u" / "a.txt").write_text(f"{tag} a\n" * 100)
    (src / "u" / "big.bin").write_bytes(tag.encode() * (2 << 20))


def test_forgotten_contents_are_deleted_and_indexes_merged(repo, tmp_path):
    src = tmp_path / "src"
    _homes(src, "one")
    first = create_snapshot(repo, "c/h", src)
    _homes(src, "two")
    second = create_snapshot(repo, "c/h", src)
    assert len(index_names(repo.store)) == 2
    dry = prune(repo, "c/h", RetentionPolicy(last=1), grace_s=0, dry_run=True)
    assert dry.forgotten == [first.id] and dry.blobs_deleted == 1 and dry.packs_deleted == 1
    assert repo.snapshot_ids("c/h") == [first.id, second.id], "a dry run deletes nothing"
    report = prune(repo, "c/h", RetentionPolicy(last=1), grace_s=0)
    assert report.forgotten == [first.id]
    assert (report.blobs_deleted, report.packs_deleted) == (1, 1)
    assert len(index_names(repo.store)) == 1
    assert verify_snapshot(repo, "c/h", deep=True).ok
    # the merged index still finds the contents: backing up the same homes stores nothing
    again = create_snapshot(repo, "other/hub", src)
    assert again.new_bytes == 0


def test_deleted_packs_whose_ids_end_in_00_leave_the_merged_index(repo, tmp_path, pack_ids_ending_in_00):
    """1 pack in 256 has an id ending in 00: when prune deletes one, the merged index must
    drop its records too, or a later backup would name the deleted pack."""
    src, out = tmp_path / "src", tmp_path / "out"
    _homes(src, "one")
    create_snapshot(repo, "c/h", src)
    _homes(src, "two")
    create_snapshot(repo, "c/h", src)
    assert prune(repo, "c/h", RetentionPolicy(last=1), grace_s=0).packs_deleted == 1
    _homes(src, "one")  # the forgotten contents again: stored anew, not found in the deleted pack
    again = create_snapshot(repo, "other/hub", src)
    assert again.new_packs == 1
    restore_snapshot(repo, "other/hub", out, again.id)
    assert diff_trees(read_tree(src), read_tree(out)) == []


def test_young_unreferenced_contents_survive_the_grace_period(repo, tmp_path):
    src = tmp_path / "src"
    _homes(src, "one")
    create_snapshot(repo, "c/h", src)
    _homes(src, "two")
    create_snapshot(repo, "c/h", src)
    report = prune(repo, "c/h", RetentionPolicy(last=1), grace_s=3600)
    assert len(report.forgotten) == 1 and report.blobs_deleted == 0 and report.too_young == 2


def test_a_running_backup_stops_the_content_phase_not_the_forgetting(repo, tmp_path):
    src = tmp_path / "src"
    _homes(src, "one")
    create_snapshot(repo, "c/h", src)
    _homes(src, "two")
    create_snapshot(repo, "c/h", src)
    with shared_lock(repo.store, "backup of another hub, in progress"):
        report = prune(repo, "c/h", RetentionPolicy(last=1), grace_s=0, lock_policy=LockPolicy(wait_s=0))
    assert len(report.forgotten) == 1
    assert report.gc_skipped and "backup of another hub, in progress" in report.gc_skipped
    assert report.blobs_deleted == 0
    later = prune(repo, "c/h", RetentionPolicy(last=1), grace_s=0)
    assert later.gc_skipped is None and later.blobs_deleted == 1


def test_a_backup_waits_for_a_running_prune_then_gives_up(repo, tmp_path):
    _homes(tmp_path / "src", "one")
    policy = LockPolicy(wait_s=1.0, poll_s=0.2)
    with exclusive_lock(repo.store, "prune in progress"):
        started = time.monotonic()
        with pytest.raises(LockError, match="prune in progress"):
            create_snapshot(repo, "c/h", tmp_path / "src", options=_options(policy))
        assert time.monotonic() - started >= 1.0
    assert repo.snapshot_ids("c/h") == []
    assert create_snapshot(repo, "c/h", tmp_path / "src", options=_options(policy)).files == 2


def _options(lock: LockPolicy):
    from hub_ops.backup import BackupOptions

    return BackupOptions(lock=lock)


def test_locks_of_dead_processes_go_stale(repo, tmp_path):
    """A backup killed -9 leaves its lock; once unrefreshed for stale_s it no longer blocks
    a prune, which removes it."""
    policy = LockPolicy(stale_s=1.0)
    dead = shared_lock(repo.store, "killed backup", policy)
    dead._stop.set()  # its heartbeat dies with it
    with pytest.raises(LockError, match="killed backup"):
        exclusive_lock(repo.store, "prune", policy).release()
    time.sleep(2.1)  # S3's Last-Modified counts whole seconds: 1 s + a second of truncation
    lock = exclusive_lock(repo.store, "prune", policy)
    lock.release()
    assert [o.key for o in repo.store.list("locks/")] == []


def test_a_backup_whose_lock_was_removed_commits_nothing(repo, tmp_path, monkeypatch):
    """The timing is forced (a prune removing our lock as stale right before the commit);
    the lock, store and backup are the real ones."""
    from hub_ops.backup import snapshot as snapshot_module

    _homes(tmp_path / "src", "one")
    real = snapshot_module.ManifestWriter.close

    def lose_lock_then_close(self, summary):
        for obj in list(repo.store.list("locks/")):
            repo.store.delete(obj.key)
        return real(self, summary)

    monkeypatch.setattr(snapshot_module.ManifestWriter, "close", lose_lock_then_close)
    with pytest.raises(LockError, match="nothing was committed"):
        create_snapshot(repo, "c/h", tmp_path / "src")
    assert repo.snapshot_ids("c/h") == []


def test_debris_of_interrupted_writes_is_removed_after_the_grace_period(tmp_path):
    from hub_ops.backup import Repository

    repo = Repository.open(str(tmp_path / "dest"))
    _homes(tmp_path / "src", "one")
    create_snapshot(repo, "c/h", tmp_path / "src")
    debris = [tmp_path / "dest" / "packs" / "ab" / ".tmp-deadbeef", tmp_path / "dest" / "blobs" / "cd" / ".tmp-1"]
    for p in debris:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"half an upload")
    orphan = tmp_path / "dest" / "snapshots" / "c" / "h" / "20200101T000000.000Z-00000000.json"
    orphan.write_text("{}")
    old = time.time() - 7200
    for p in debris + [orphan]:
        os.utime(p, (old, old))
    report = prune(repo, "c/h", RetentionPolicy(last=5), grace_s=3600)
    assert report.debris_deleted == 3
    assert not any(p.exists() for p in debris + [orphan])
    assert verify_snapshot(repo, "c/h", deep=True).ok


def test_a_heartbeat_never_brings_back_a_lock_prune_removed(repo, monkeypatch):
    """The heartbeat's refresh is a conditional write: a lock deleted (declared stale by a
    prune) stays deleted, even when the deletion lands between the heartbeat's read of the
    lock and its write, and the backup then refuses to commit."""
    lock = shared_lock(repo.store, "slow backup", LockPolicy(refresh_s=3600))
    before = repo.store.read_bytes(lock.key)
    assert lock.refresh() is True and repo.store.read_bytes(lock.key) != before  # rewritten in place
    if repo.store.is_local:  # no read before the write: the file must not be created again
        repo.store.delete(lock.key)
    else:
        real_info = repo.store.fs.info

        def info_then_prune(path, **kwargs):
            found = real_info(path, **kwargs)
            if path.endswith(lock.key):
                repo.store.delete(lock.key)  # a prune removes it right after the heartbeat read it
            return found

        monkeypatch.setattr(repo.store.fs, "info", info_then_prune)
    assert lock.refresh() is False
    monkeypatch.undo()
    assert repo.store.stat(lock.key) is None
    assert [o.key for o in repo.store.list("locks/")] == []
    with pytest.raises(LockError, match="nothing was committed"):
        lock.check()
    lock.release()
