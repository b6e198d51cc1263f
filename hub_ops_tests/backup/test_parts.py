"""One snapshot written by several workers (parts.py): same snapshot as one worker, nothing
visible until the commit, a killed worker's uploads reused, prune sparing uncommitted parts.
On a local folder and the local stack's GCS server; workers are real `hub-ops` processes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hub_ops.backup import BackupError, RetentionPolicy, create_snapshot, prune, restore_snapshot
from hub_ops.backup.blobs import digest_of_key
from hub_ops.backup.parts import commit_parts, load_plan, make_plan, run_part, run_part_processes
from hub_ops.backup.scan import walk_chunks
from hub_ops.backup.split import split_folders
from hub_ops.backup.store import TMP_NAME
from hub_ops_tests.backup.conftest import make_destination
from hub_ops_tests.backup.trees import diff_trees, read_tree


@pytest.fixture(params=["file", "gcs"])
def dest(request, tmp_path):
    return make_destination(request, tmp_path, request.param)


def _env(dest) -> dict:
    env = {**os.environ, "HUB_OPS_ENV": "local"}
    if dest.kind == "gcs":
        env["HUB_OPS_GCS_ENDPOINT"] = dest.storage.gcs_endpoint
    return env


def _hub_ops(dest, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "hub-ops"), "backup", "--hub", "c/h", "--dest", dest.url, *args]


def _backup(dest, env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`hub-ops backup` for c/h into `dest`, waited for, its output captured."""
    return subprocess.run(_hub_ops(dest, *args), env=env, capture_output=True, text=True, timeout=timeout)


def _homes(src: Path, seed: int, users: int = 5) -> None:
    """Users of different sizes, shared contents across users, a file above the pack limit,
    symlinks, an empty folder and a non-UTF-8 name."""
    rng = random.Random(seed)
    for u in range(users):
        home = src / f"user{u}"
        (home / "nb").mkdir(parents=True, exist_ok=True)
        (home / "empty").mkdir(exist_ok=True)
        for i in range(10 * (u + 1)):
            (home / "nb" / f"f{i}.txt").write_text(f"user {u} file {i} {rng.random()}\n" * rng.randint(1, 50))
        (home / "shared.txt").write_text("the same in every home\n")
        (home / "link").symlink_to("nb/f0.txt")
    (src / f"user{users - 1}" / "big.bin").write_bytes(rng.randbytes(3 << 20))
    Path(os.fsdecode(os.fsencode(src) + b"/user0/caf\xff")).write_bytes(b"not utf-8 name\n")


def _rows(repo, snapshot_id: str) -> list[tuple]:
    with repo.local_manifest("c/h", snapshot_id) as path:
        t = pq.read_table(path, columns=["path", "type", "size", "digest", "link_target"])
    return list(zip(*(t.column(n).to_pylist() for n in t.column_names)))


def _restored(repo, snapshot_id: str, target: Path) -> dict:
    restore_snapshot(repo, "c/h", target, snapshot_id)
    return read_tree(target)


def test_split_greedy_by_size_then_new_folders_by_count():
    sizes = {b"a": 100, b"b": 60, b"c": 50, b"d": 10}
    # a->0 (100); b->1 (60); c->1 (110); d->0 (110); new e, f, g by count: 0, 1, 0
    assert split_folders([b"g", b"f", b"e", b"d", b"c", b"b", b"a"], sizes, 2) == [
        [b"a", b"d", b"e", b"g"],
        [b"b", b"c", b"f"],
    ]
    assert split_folders([b"x"], {}, 3) == [[b"x"], [], []]


def test_multi_worker_snapshot_equals_a_single_worker_one(dest, tmp_path):
    src = tmp_path / "src"
    _homes(src, seed=1)
    single, multi = make_destination_pair(dest, tmp_path)
    env = _env(dest)
    for step in range(2):  # first backup (split by count), then one split by the first's sizes
        if step:
            (src / "user3" / "nb" / "f1.txt").write_text("edited\n")
            (src / "user5" / "new").mkdir(parents=True)
            (src / "user5" / "new" / "x.txt").write_text("a new user\n")
        one = create_snapshot(single, "c/h", src)
        done = _backup(multi, env, "--source", str(src), "--parallel-workers", "3", "--json", timeout=300)
        assert done.returncode == 0, done.stderr
        expected = read_tree(src)
        ids = multi.repo().snapshot_ids("c/h")
        assert len(ids) == step + 1
        rows = _rows(multi.repo(), ids[-1])
        assert rows == _rows(single, one.id)  # same entries, order, sizes and content digests
        paths = [r[0] for r in rows]
        assert paths == sorted(expected, key=lambda p: p.split(b"/"))  # depth first, names sorted as bytes
        restored = _restored(multi.repo(), ids[-1], tmp_path / f"restore{step}")
        assert diff_trees(expected, restored) == []
        summary = multi.repo().summary("c/h", ids[-1])
        assert (summary.files, summary.bytes, summary.unique_bytes) == (one.files, one.bytes, one.unique_bytes)
        assert not [o.key for o in multi.repo().store.list("snapshots/") if "/parts/" in o.key]


def make_destination_pair(dest, tmp_path):
    """(a repository for the one-worker snapshots, the destination of the multi-worker ones)."""
    if dest.kind == "file":
        other = type(dest)("file", f"file://{tmp_path}/multi", dest.storage)
    else:
        other = type(dest)("gcs", dest.url + "-multi", dest.storage)
    return dest.repo(), other


def _blob_keys(repo) -> set[str]:
    return {o.key for o in repo.store.list("blobs/") if digest_of_key(o.key) is not None}


def test_killed_worker_leaves_no_snapshot_and_its_rerun_reuses_uploads(dest, tmp_path):
    src = tmp_path / "src"
    rng = random.Random(7)
    for user, count in (("alice", 3), ("bob", 60)):  # 2 MiB contents: one blob object each
        (src / user).mkdir(parents=True)
        for i in range(count):
            (src / user / f"d{i}.bin").write_bytes(rng.randbytes(2 << 20))
    repo = dest.repo()
    plan = make_plan(repo, "c/h", src, 2)
    assert plan.parts == [["alice"], ["bob"]]  # no snapshot yet: split by count
    run_part(repo, plan, 0)
    before = _blob_keys(repo)
    assert len(before) == 3
    worker = subprocess.Popen(
        _hub_ops(dest, "--plan", plan.id, "--part", "1", "--workers", "1"),
        env=_env(dest),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while len(_blob_keys(repo)) < len(before) + 2 and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    assert worker.wait() == -signal.SIGKILL, worker.stderr.read()
    uploaded_by_killed = len(_blob_keys(repo)) - len(before)
    assert 2 <= uploaded_by_killed < 60

    with pytest.raises(BackupError, match=r"part\(s\) 1 of 2 missing"):
        commit_parts(repo, "c/h", plan.id)
    assert repo.snapshot_ids("c/h") == []  # nothing visible

    rerun = run_part(repo, load_plan(repo, "c/h", plan.id), 1)
    assert rerun.new_blobs == 60 - uploaded_by_killed  # what the killed worker stored is skipped
    assert len(_blob_keys(repo)) == 63
    summary = commit_parts(repo, "c/h", plan.id)
    assert repo.snapshot_ids("c/h") == [summary.id] and summary.files == 63
    assert diff_trees(read_tree(src), _restored(repo, summary.id, tmp_path / "restored")) == []


def test_prune_keeps_the_packs_of_an_uncommitted_part(dest, tmp_path):
    src = tmp_path / "src"
    _homes(src, seed=2, users=3)
    repo = dest.repo()
    old = tmp_path / "old"
    _homes(old, seed=3, users=1)
    create_snapshot(repo, "c/h", old)  # a committed snapshot, so prune has a hub to work on
    plan = make_plan(repo, "c/h", src, 2, parent=False)
    run_part(repo, plan, 0)
    run_part(repo, plan, 1)
    packs = {o.key for o in repo.store.list("packs/") if not o.key.rsplit("/", 1)[-1].startswith(TMP_NAME)}
    blob_keys = _blob_keys(repo)
    report = prune(repo, "c/h", RetentionPolicy(last=1), grace_s=0)  # no grace: only references protect
    assert report.gc_skipped is None
    assert report.packs_deleted == 0 and report.blobs_deleted == 0
    assert packs <= {o.key for o in repo.store.list("packs/")} and blob_keys <= _blob_keys(repo)
    summary = commit_parts(repo, "c/h", plan.id)
    assert diff_trees(read_tree(src), _restored(repo, summary.id, tmp_path / "restored")) == []


def test_commit_with_a_missing_part_names_it_and_writes_nothing(dest, tmp_path):
    src = tmp_path / "src"
    _homes(src, seed=4)
    repo = dest.repo()
    env = _env(dest)
    planned = _backup(dest, env, "--source", str(src), "--parallel-workers", "3", "--plan-only")
    assert planned.returncode == 0, planned.stderr
    plan_id = planned.stdout.strip()
    plan = load_plan(repo, "c/h", plan_id)
    assert sorted(name for part in plan.parts for name in part) == sorted(os.listdir(src))
    for part in (0, 2):
        ran = _backup(dest, env, "--plan", plan_id, "--part", str(part))
        assert ran.returncode == 0, ran.stderr
    commit = _backup(dest, env, "--commit", plan_id)
    assert commit.returncode == 1
    assert f"plan {plan_id} of c/h: part(s) 1 of 3 missing" in commit.stderr
    assert f"--plan {plan_id} --part I" in commit.stderr
    assert repo.snapshot_ids("c/h") == []
    ran = _backup(dest, env, "--plan", plan_id, "--part", "1")
    assert ran.returncode == 0, ran.stderr
    commit = _backup(dest, env, "--commit", plan_id, "--json")
    assert commit.returncode == 0, commit.stderr
    assert repo.snapshot_ids("c/h") == [plan_id]


def test_unknown_plan_and_part_are_refused(dest, tmp_path):
    src = tmp_path / "src"
    _homes(src, seed=5, users=1)
    repo = dest.repo()
    with pytest.raises(BackupError, match=r"no plan 20260101T000000\.000Z-00000000 of c/h in .*--plan-only"):
        load_plan(repo, "c/h", "20260101T000000.000Z-00000000")
    with pytest.raises(BackupError, match=r"plan id 'x/../y': expected a snapshot id"):
        load_plan(repo, "c/h", "x/../y")
    plan = make_plan(repo, "c/h", src, 2)
    with pytest.raises(BackupError, match=rf"part 2 of plan {plan.id}: the plan has parts 0 to 1"):
        run_part(repo, plan, 2)


def test_a_part_walks_the_same_entries_with_parallel_walk_threads(tmp_path):
    src = tmp_path / "src"
    _homes(src, seed=6, users=4)
    only = frozenset({b"user0", b"user3"})
    tree = read_tree(src)
    paths = sorted((p for p in tree if p.split(b"/", 1)[0] in only), key=lambda p: p.split(b"/"))
    expected = [(p, tree[p][3] if tree[p][0] == "link" else None) for p in paths]
    for threads in (1, 4):
        chunks = list(walk_chunks(src, 16, threads, only))
        walked = [(path, chunk.links.get(i)) for chunk in chunks for i, path in enumerate(chunk.paths)]
        assert walked == expected, threads


def test_failed_worker_processes_are_named_and_nothing_is_committed(dest, tmp_path):
    src = tmp_path / "src"
    _homes(src, seed=8, users=2)
    repo = dest.repo()
    plan = make_plan(repo, "c/h", src, 2)
    plan.source = str(tmp_path / "not-mounted")  # what a worker whose volume is missing sees
    with pytest.raises(
        BackupError, match=rf"plan {plan.id} of c/h: worker\(s\) for part\(s\) 0 \(exit 1\), 1 \(exit 1\) failed"
    ):
        run_part_processes(dest.url, dest.storage, plan, None)
    assert repo.snapshot_ids("c/h") == []
    with pytest.raises(BackupError, match=r"part\(s\) 0, 1 of 2 missing"):
        commit_parts(repo, "c/h", plan.id)
