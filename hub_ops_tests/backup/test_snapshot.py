"""Snapshots: byte-identical round trips, incremental reuse, dedupe, what is skipped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from hub_ops.backup import BackupOptions, SourceError, create_snapshot, restore_snapshot, snapshot, verify_snapshot
from hub_ops_tests.backup.trees import diff_trees, homes, read_tree, write_tree


def _fresh(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    return path


def test_hypothesis_trees_round_trip_byte_identical(destination, tmp_path):
    """Odd names (non-UTF-8, unicode, newlines, glob characters), empty folders and files,
    files above the pack and whole-read thresholds, symlinks, setuid modes and old mtimes:
    what is restored is exactly what was backed up, on both kinds of destination."""
    destination = destination
    examples = {"file": 40, "gcs": 12, "s3": 6, "az": 6}[destination.kind]
    seen: set[str] = set()

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(tree=homes)
    def round_trip(tree):
        src, out = _fresh(tmp_path / "src"), _fresh(tmp_path / "out")
        write_tree(src, tree)
        expected = read_tree(src)
        seen.update(_features(expected))
        repo = destination.repo()
        summary = create_snapshot(repo, "c/h", src)
        assert summary.files == sum(1 for v in expected.values() if v[0] == "file")
        restore_snapshot(repo, "c/h", out, summary.id)
        assert diff_trees(expected, read_tree(out)) == []
        assert verify_snapshot(repo, "c/h", summary.id, deep=True).problems == []

    round_trip()
    # the examples covered what the test claims to cover
    assert seen >= {"symlink", "empty folder", "empty file", "large file", "not UTF-8 name", "unicode name"}, seen


def _features(tree: dict) -> set[str]:
    found = set()
    for path, (kind, _mode, _mtime, content) in tree.items():
        if kind == "link":
            found.add("symlink")
        elif kind == "dir" and not any(p.startswith(path + b"/") for p in tree):
            found.add("empty folder")
        elif kind == "file":
            found.add("empty file" if not content else "large file" if len(content) > (1 << 20) else "small file")
        try:
            name = path.decode()
            if not name.isascii():
                found.add("unicode name")
        except UnicodeDecodeError:
            found.add("not UTF-8 name")
    return found


def _homes(root: Path, users: int = 3, files: int = 20) -> None:
    for u in range(users):
        for i in range(files):
            p = root / f"user{u}" / "nb" / f"f{i}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"user {u} file {i}\n" * 50)
        (root / f"user{u}" / "course").mkdir()
        (root / f"user{u}" / "course" / "lesson.ipynb").write_text("the same notebook for everyone\n" * 100)


def test_second_snapshot_reads_only_what_changed(repo, tmp_path):
    src = tmp_path / "src"
    _homes(src)
    first = create_snapshot(repo, "c/h", src)
    assert first.hashed_files == first.files == 63 and first.parent is None
    unchanged = create_snapshot(repo, "c/h", src)
    assert unchanged.parent == first.id
    assert unchanged.hashed_files == 0 and unchanged.new_bytes == 0 and unchanged.files == 63
    (src / "user1" / "nb" / "f3.txt").write_text("edited\n")
    (src / "user2" / "new.txt").write_text("brand new\n")
    changed = create_snapshot(repo, "c/h", src)
    assert changed.hashed_files == 2 and changed.new_blobs == 2
    assert 0 < changed.new_bytes < 100
    assert changed.id > unchanged.id > first.id  # ids sort by time


def test_content_rewritten_with_old_mtime_is_still_seen(repo, tmp_path):
    """Same size, mtime set back (rsync -t, cp -p): the ctime gives it away."""
    src = tmp_path / "src"
    f = src / "u" / "data.csv"
    f.parent.mkdir(parents=True)
    f.write_text("a,b\n1,2\n")
    st = f.stat()
    create_snapshot(repo, "c/h", src)
    f.write_text("a,b\n9,9\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = create_snapshot(repo, "c/h", src)
    assert after.hashed_files == 1
    out = tmp_path / "out"
    restore_snapshot(repo, "c/h", out)
    assert (out / "u" / "data.csv").read_text() == "a,b\n9,9\n"
    # with --ignore-inode (filesystems whose inodes change per mount) only size/mtime/mode count
    f.write_text("a,b\n7,7\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert create_snapshot(repo, "c/h", src, BackupOptions(ignore_inode=True)).hashed_files == 0


def test_identical_contents_are_stored_once_across_users_and_hubs(repo, tmp_path, monkeypatch):
    src = tmp_path / "src"
    _homes(src, users=4)
    a = create_snapshot(repo, "c/hub-a", src)
    # the course notebook is in 4 homes: stored once
    assert a.new_blobs == a.files - 3
    assert a.dedupe_ratio > 1
    # the dedupe figures are exact: the manifest's distinct contents
    with repo.local_manifest("c/hub-a", a.id) as manifest:
        files = pq.read_table(manifest).filter(pc.equal(pq.read_table(manifest)["type"], "f"))
    distinct = files.group_by("digest").aggregate([("size", "max"), ("stored_size", "max")])
    assert a.unique_bytes == pc.sum(distinct["size_max"]).as_py()
    assert a.stored_bytes == pc.sum(distinct["stored_size_max"]).as_py()
    assert a.unique_bytes < a.bytes
    # the same figures when the dedupe records outgrow memory and spill to bucket files
    monkeypatch.setattr(snapshot._Distinct, "FLUSH", 2)
    monkeypatch.setattr(snapshot._Distinct, "HELD", 1)
    spilled = create_snapshot(repo, "c/hub-a", src, BackupOptions(parent=None))
    assert (spilled.unique_bytes, spilled.stored_bytes) == (a.unique_bytes, a.stored_bytes)
    monkeypatch.undo()
    b = create_snapshot(repo, "other/hub-b", src)  # another hub sharing the destination
    assert b.parent is None and b.hashed_files == b.files
    assert b.new_blobs == 0 and b.new_bytes == 0


def test_contents_found_in_a_pack_whose_id_ends_in_00_restore(repo, tmp_path, pack_ids_ending_in_00):
    """1 pack in 256 has an id ending in 00; a content deduplicated against one must name the
    whole id in the new manifest (it once lost the last byte, naming a missing pack)."""
    src, out = tmp_path / "src", tmp_path / "out"
    _homes(src, users=2)
    create_snapshot(repo, "c/hub-a", src)
    b = create_snapshot(repo, "c/hub-b", src)  # every content found through the index
    assert b.new_blobs == 0 and b.hashed_files == b.files
    restore_snapshot(repo, "c/hub-b", out, b.id)
    assert diff_trees(read_tree(src), read_tree(out)) == []
    assert verify_snapshot(repo, "c/hub-b", b.id, deep=True).problems == []


def test_symlinks_are_stored_as_links_never_followed(repo, tmp_path):
    src = tmp_path / "src"
    (src / "u").mkdir(parents=True)
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("must not be backed up")
    os.symlink(secret, src / "u" / "escape")  # absolute, pointing outside
    os.symlink("missing", src / "u" / "dangling")
    os.symlink("..", src / "u" / "up")
    summary = create_snapshot(repo, "c/h", src)
    assert summary.symlinks == 3 and summary.files == 0
    out = tmp_path / "out"
    restore_snapshot(repo, "c/h", out, allow_external_links=True)
    assert os.readlink(out / "u" / "escape") == str(secret)
    assert os.readlink(out / "u" / "dangling") == "missing"


def test_sockets_and_fifos_are_skipped_and_counted(repo, tmp_path):
    src = tmp_path / "src"
    (src / "u").mkdir(parents=True)
    (src / "u" / "kept.txt").write_text("x")
    os.mkfifo(src / "u" / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "u" / "sock"))
    try:
        summary = create_snapshot(repo, "c/h", src)
    finally:
        sock.close()
    assert summary.files == 1
    assert summary.skipped == {"fifo": 1, "socket": 1}


@pytest.fixture
def open_tmp():
    """A temporary folder an unprivileged user can reach (pytest's are root-only)."""
    path = Path(tempfile.mkdtemp(prefix="hub-ops-unreadable-"))
    os.chmod(path, 0o777)
    yield path
    for dirpath, dirnames, _ in os.walk(path):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    shutil.rmtree(path)


def test_unreadable_files_are_reported_per_path(destination, open_tmp):
    """Run as an unprivileged user (root reads everything): an unreadable file and an
    unlistable folder are named in the summary and left out; the rest is backed up;
    --fail-on-unreadable writes no snapshot at all."""
    tmp_path = open_tmp
    src = tmp_path / "src"
    (src / "u" / "closed").mkdir(parents=True)
    (src / "u" / "open.txt").write_text("readable")
    (src / "u" / "secret.txt").write_text("not for us")
    (src / "u" / "closed" / "inside.txt").write_text("not listable")
    os.chmod(src / "u" / "secret.txt", 0o000)
    os.chmod(src / "u" / "closed", 0o000)
    for p in (src, src / "u", src / "u" / "open.txt"):
        os.chmod(p, os.stat(p).st_mode | 0o055)
    script = (
        "import json, sys\n"
        "from hub_ops.backup import *\n"
        "from hub_ops.clients.storage import Storage\n"
        f"repo = Repository.open({(destination.url if destination.kind != 'file' else f'file://{tmp_path}/dest')!r}, "
        f"{destination.storage!r})\n"
        "strict = len(sys.argv) > 1\n"
        f"try:\n    s = create_snapshot(repo, 'c/h', {str(src)!r}, BackupOptions(fail_on_unreadable=strict))\n"
        "    print(s.to_json())\n"
        "except SourceError as e:\n    print('REFUSED', e)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "HOME": str(tmp_path)}
    cmd = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    from hub_ops.backup import SnapshotSummary

    summary = SnapshotSummary.from_json(done.stdout.strip().splitlines()[-1])
    assert summary.files == 1 and summary.unreadable_count == 2
    assert sorted(line.split(":")[0] for line in summary.unreadable) == ["u/closed", "u/secret.txt"]
    strict = subprocess.run(cmd + ["strict"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert "REFUSED 2 unreadable file(s)" in strict.stdout and "u/secret.txt" in strict.stdout


def test_missing_source_is_refused(repo, tmp_path):
    with pytest.raises(SourceError, match="not a folder"):
        create_snapshot(repo, "c/h", tmp_path / "nope")


def test_empty_homes_make_an_empty_snapshot(repo, tmp_path):
    (tmp_path / "src").mkdir()
    s = create_snapshot(repo, "c/h", tmp_path / "src")
    assert (s.files, s.dirs, s.bytes) == (0, 0, 0)
    assert repo.snapshot_ids("c/h") == [s.id]


def test_large_files_stream_and_dedupe(repo, tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    big = os.urandom(5 << 20) + b"\0" * (5 << 20)  # above the whole-read threshold; half compressible
    (src / "a" / "big.nc").write_bytes(big)
    (src / "b" / "copy.nc").write_bytes(big)
    s = create_snapshot(repo, "c/h", src)
    assert s.new_blobs == 1 and s.new_bytes < len(big) * 0.6
    out = tmp_path / "out"
    restore_snapshot(repo, "c/h", out)
    assert (out / "b" / "copy.nc").read_bytes() == big


def _client_sockets(port: int) -> int:
    """Sockets of this machine connected to `port` (Azurite's, used by this session only) that
    are still open on the client side: ESTABLISHED (01) or CLOSE-WAIT (08), from /proc/net/tcp."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] in ("01", "08"):
                    count += 1
    return count


def test_backups_restores_and_prunes_on_azure_release_their_connections(az_container, azure_env, tmp_path):
    """Issue 14: rounds of backup, restore, deep verify and prune on Azurite (files above the
    pack threshold, empty files, a missing-object stat each round) leave no more sockets open
    than the first round did: the client pool does not fill with unreleased connections."""
    from hub_ops.backup import Repository, RetentionPolicy, prune
    from hub_ops.clients.storage import Storage

    repo = Repository.open(f"az://{az_container}/backups", Storage())
    src = tmp_path / "src"
    counts = []
    for round_ in range(5):
        _fresh(src)
        (src / "u").mkdir(parents=True)
        (src / "u" / "big").write_bytes(os.urandom(3 << 20))
        (src / "u" / "empty").write_bytes(b"")
        for i in range(30):
            (src / "u" / f"small{i}").write_bytes(os.urandom(100 + round_))
        summary = create_snapshot(repo, "c/h", src)
        restore_snapshot(repo, "c/h", _fresh(tmp_path / "out"), summary.id)
        assert verify_snapshot(repo, "c/h", summary.id, deep=True).problems == []
        assert repo.store.stat("blobs/no/such") is None
        prune(repo, "c/h", RetentionPolicy(last=2), grace_s=0)
        counts.append(_client_sockets(azure_env.port))
    assert (tmp_path / "out" / "u" / "big").read_bytes() == (src / "u" / "big").read_bytes()
    assert max(counts) <= counts[0] + 4 and max(counts) <= 32, counts
