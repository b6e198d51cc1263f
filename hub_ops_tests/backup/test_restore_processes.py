"""Small files restored by worker processes: the same files, checks, counts, problems and
reruns as the threads give, and a worker's failure surfaces in the parent. Local
destinations only (workers read packs from files); a remote one is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hub_ops.backup import (
    BackupError,
    BackupIntegrityError,
    Repository,
    RestoreProgress,
    RestoreRefusedError,
    create_snapshot,
    restore_snapshot,
)
from hub_ops.backup import restore as restore_module
from hub_ops.backup.packs import pack_key
from hub_ops.backup.restore_processes import PackWriters
from hub_ops_tests.backup.trees import diff_trees, large_content, read_tree

USERS = [f"user-{i}" for i in range(6)]


def _homes(src: Path) -> None:
    """Many small files (two users share a course folder), one large file, links, empty
    folders and odd modes."""
    for n, user in enumerate(USERS):
        home = src / user
        for j in range(40):
            f = home / "projects" / f"p{j % 3}" / f"nb{j}.ipynb"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f"{user} notebook {j}\n" * (1 + j % 9))
        if n < 2:
            for j in range(10):
                f = home / "course" / f"lesson{j}.ipynb"
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(f"shared lesson {j}\n" * 50)
        (home / ".cache").mkdir()
        (home / "run.sh").write_text("#!/bin/sh\n")
        (home / "run.sh").chmod(0o750)
        os.symlink("projects/p0", home / "current")
    (src / USERS[0] / "big.bin").write_bytes(large_content(5, 3 << 20))


@pytest.fixture
def local(tmp_path) -> tuple[Repository, Path, str]:
    _homes(tmp_path / "src")
    repo = Repository.open(f"file://{tmp_path}/dest")
    snapshot = create_snapshot(repo, "c/h", tmp_path / "src")
    return repo, tmp_path / "src", snapshot.id


def _location(repo: Repository, snapshot_id: str, path: str) -> tuple[str, int, int]:
    with repo.local_manifest("c/h", snapshot_id) as manifest:
        row = next(r for r in pq.read_table(manifest).to_pylist() if r["path"] == path.encode())
    assert row["pack"] is not None, f"{path} is expected in a pack"
    return pack_key(row["pack"]), row["offset"], row["stored_size"]


def test_processes_restore_what_threads_restore(local, tmp_path):
    repo, src, _ = local
    by_threads = restore_snapshot(repo, "c/h", tmp_path / "threads", processes=0)
    progress = RestoreProgress()
    by_processes = restore_snapshot(repo, "c/h", tmp_path / "processes", processes=2, progress=progress)
    assert diff_trees(read_tree(src), read_tree(tmp_path / "processes")) == []
    assert diff_trees(read_tree(src), read_tree(tmp_path / "threads")) == []
    counts = lambda r: (r.files, r.bytes, r.dirs, r.symlinks, r.already_there)  # noqa: E731
    assert counts(by_processes) == counts(by_threads)
    assert by_processes.files == 6 * 41 + 20 + 1 and by_processes.symlinks == 6
    assert (progress.files, progress.bytes) == (progress.expected_files, progress.expected_bytes)


def test_many_small_files_pick_processes_by_themselves(local, tmp_path, monkeypatch):
    repo, src, _ = local
    started = []

    class Counted(PackWriters):
        def __init__(self, root, processes, overwrite_newer=False):
            started.append(processes)
            super().__init__(root, processes, overwrite_newer)

    monkeypatch.setattr(restore_module, "PackWriters", Counted)
    restore_snapshot(repo, "c/h", tmp_path / "few")
    assert started == [], f"{restore_module.PROCESSES_FROM_ENTRIES} manifest entries are needed to start workers"
    monkeypatch.setattr(restore_module, "PROCESSES_FROM_ENTRIES", 100)
    restore_snapshot(repo, "c/h", tmp_path / "many")
    assert started == [restore_module._cpus()]
    assert diff_trees(read_tree(src), read_tree(tmp_path / "many")) == []


def test_rerun_with_processes_skips_what_is_there(local, tmp_path):
    repo, src, _ = local
    out = tmp_path / "out"
    restore_snapshot(repo, "c/h", out, processes=2)
    edited = out / USERS[3] / "projects" / "p1" / "nb1.ipynb"
    edited.write_text("edited since\n")
    st = edited.stat()  # older than the snapshot's copy: replaced (a newer one would be kept)
    os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns - 10**12))
    again = restore_snapshot(repo, "c/h", out, processes=2)
    assert again.files == 1 and again.already_there == 6 * 41 + 20 + 1 - 1 + 6
    assert diff_trees(read_tree(src), read_tree(out)) == []
    assert not list(out.rglob(".hub-ops-restore-*"))


def test_a_corrupt_or_missing_pack_names_the_file(local, tmp_path):
    repo, _, snapshot_id = local
    path = f"{USERS[2]}/projects/p1/nb4.ipynb"
    key, offset, stored = _location(repo, snapshot_id, path)
    data = bytearray(repo.store.read_bytes(key))
    data[offset + stored // 2] ^= 0x01
    repo.store.put_bytes(key, bytes(data))
    with pytest.raises(BackupIntegrityError, match=path):
        restore_snapshot(repo, "c/h", tmp_path / "corrupt", processes=2)
    repo.store.delete(key)
    with pytest.raises(BackupIntegrityError, match=r"pack file://.* is missing"):
        restore_snapshot(repo, "c/h", tmp_path / "missing", processes=2)


def test_files_in_the_way_are_reported_and_the_rest_written(local, tmp_path):
    repo, src, _ = local
    found = {}
    for processes in (0, 2):
        out = tmp_path / f"out-{processes}"
        (out / USERS[1]).mkdir(parents=True)
        (out / USERS[1] / "projects").write_text("a file where a folder must be")
        with pytest.raises(RestoreRefusedError) as refused:
            restore_snapshot(repo, "c/h", out, processes=processes)
        found[processes] = sorted(refused.value.refused)
        blocked = f"{USERS[1]}/projects".encode()
        rest = lambda tree: {p: v for p, v in tree.items() if not p.startswith(blocked)}  # noqa: E731
        assert diff_trees(rest(read_tree(src)), rest(read_tree(out))) == []
    assert len(found[2]) == 40 + 1 + 3  # its 40 notebooks, the folder itself and its 3 folders
    assert all("user-1/projects in the target is a file, not a folder" in p for p in found[2])
    assert found[2] == found[0]


def test_a_worker_that_dies_fails_the_restore_with_a_clear_error(local, tmp_path):
    repo, _, snapshot_id = local
    key, offset, stored = _location(repo, snapshot_id, f"{USERS[0]}/projects/p0/nb0.ipynb")
    with PackWriters(str(tmp_path / "out"), 1) as writers:
        writers._workers[0].proc.kill()
        with pytest.raises(BackupError, match="restore worker process ended unexpectedly"):
            writers.write_pack(repo.store.local_path(key), offset, offset + stored, {}, "file://pack")


def test_ctrl_c_is_left_to_the_parent(local, tmp_path):
    """Ctrl-C reaches the whole process group; workers ignore it and the parent stops them."""
    repo, src, snapshot_id = local
    path = f"{USERS[0]}/projects/p0/nb0.ipynb"
    key, offset, stored = _location(repo, snapshot_id, path)
    with repo.local_manifest("c/h", snapshot_id) as manifest:
        row = next(r for r in pq.read_table(manifest).to_pylist() if r["path"] == path.encode())
    entries = [(path.encode(), row["size"], row["mode"], row["mtime_ns"], row["uid"], row["gid"])]
    with PackWriters(str(tmp_path / "out"), 1) as writers:
        worker = writers._workers[0]
        writers.write_pack(repo.store.local_path(key), offset, offset + stored, {}, "file://pack")  # it is up
        os.kill(worker.proc.pid, signal.SIGINT)
        done = writers.write_pack(
            repo.store.local_path(key),
            offset,
            offset + stored,
            {row["digest"]: ((offset, stored), entries)},
            "file://pack",
        )
    assert (done.files, done.bytes) == (1, row["size"])
    assert (tmp_path / "out" / path).read_bytes() == (src / path).read_bytes()
    assert worker.proc.returncode == 0, "the worker ended when its pipe closed"


def test_workers_refuse_a_remote_destination(gcs_storage, gcs_bucket, tmp_path):
    repo = Repository.open(f"gs://{gcs_bucket}/backups", gcs_storage)
    _homes(tmp_path / "src")
    create_snapshot(repo, "c/h", tmp_path / "src")
    with pytest.raises(BackupError, match="read packs from local files"):
        restore_snapshot(repo, "c/h", tmp_path / "out", processes=2)


def test_a_worker_starts_without_pandas_or_pyarrow():
    code = (
        "import sys, hub_ops.backup.restore_processes; "
        "print(sorted(m for m in ('pandas', 'pyarrow', 'numpy', 'dagster') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
