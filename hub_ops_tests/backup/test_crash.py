"""kill -9 anywhere: earlier snapshots stay restorable, the next run completes and reuses
what the killed runs uploaded. Real `hub-ops backup` processes, killed with SIGKILL at
random moments of their run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from hub_ops.backup import SnapshotSummary, restore_snapshot, verify_snapshot
from hub_ops_tests.backup.trees import diff_trees, read_tree

# per kind: moto and Azurite are slower per request than fake-gcs-server (CI time)
KILLS = {"file": 20, "gcs": 20, "s3": 10, "az": 10}


def _env(destination) -> dict:
    env = {**os.environ, "HUB_OPS_ENV": "local"}
    if destination.kind == "gcs":
        env["HUB_OPS_GCS_ENDPOINT"] = destination.storage.gcs_endpoint
    return env


def _backup_cmd(destination, src: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "hub-ops"),
        "backup",
        "--hub",
        "c/h",
        "--source",
        str(src),
        "--dest",
        destination.url,
        "--json",
    ]


def _mutate(src: Path, rng: random.Random, step: int) -> None:
    """Edit a few small files, add one, and a new large file (a blob of its own) now and then."""
    users = sorted(p for p in src.iterdir())
    for _ in range(5):
        user = rng.choice(users)
        (user / f"f{rng.randrange(300)}.txt").write_text(f"edit {step} {rng.random()}\n" * rng.randint(1, 200))
    (rng.choice(users) / f"new{step}.txt").write_text(f"new at step {step}\n")
    if step % 3 == 0:
        (rng.choice(users) / f"big{step}.bin").write_bytes(rng.randbytes(3 << 20))


def test_kill_9_at_random_points(destination, tmp_path):
    rng = random.Random(1234 + (destination.kind == "gcs"))
    src = tmp_path / "src"
    for u in range(4):
        for i in range(300):
            p = src / f"user{u}" / f"f{i}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"user {u} file {i}\n" * rng.randint(1, 400))
        (src / f"user{u}" / "data.bin").write_bytes(rng.randbytes(2 << 20))
    env = _env(destination)
    repo = destination.repo()
    expected: dict[str, dict] = {}

    started = time.monotonic()
    done = subprocess.run(_backup_cmd(destination, src), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    full_run = time.monotonic() - started
    expected[SnapshotSummary.from_json(done.stdout.strip().splitlines()[-1]).id] = read_tree(src)

    killed_after_commit = 0
    kills = KILLS[destination.kind]
    for step in range(1, kills + 1):
        _mutate(src, rng, step)
        before = set(repo.snapshot_ids("c/h"))
        proc = subprocess.Popen(
            _backup_cmd(destination, src),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(0.05, full_run * 1.1))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        new = set(repo.snapshot_ids("c/h")) - before
        assert len(new) <= 1
        if new:  # killed after its commit: a whole snapshot of the tree as it is now
            killed_after_commit += 1
            expected[new.pop()] = read_tree(src)
        for sid in expected:  # every earlier snapshot still has all its contents
            assert verify_snapshot(repo, "c/h", sid).problems == [], f"after kill {step}"

    # the next run completes, reusing the large files the killed runs uploaded
    stored_before = {o.key for o in repo.store.list("blobs/")}
    done = subprocess.run(_backup_cmd(destination, src), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    final = SnapshotSummary.from_json(done.stdout.strip().splitlines()[-1])
    expected[final.id] = read_tree(src)
    new_blob_keys = {o.key for o in repo.store.list("blobs/")} - stored_before
    big_files = [p for p in src.rglob("big*.bin")]
    assert len(new_blob_keys) < len(big_files), "large files uploaded by killed runs are reused"

    # every snapshot restores exactly the tree it was taken from
    assert set(repo.snapshot_ids("c/h")) == set(expected)
    for sid, tree in expected.items():
        out = tmp_path / "out"
        if out.exists():
            shutil.rmtree(out)
        assert verify_snapshot(repo, "c/h", sid, deep=True).problems == []
        restore_snapshot(repo, "c/h", out, sid)
        assert diff_trees(tree, read_tree(out)) == [], sid
    print(f"{destination.kind}: full run {full_run:.1f} s, {kills} kills, {killed_after_commit} after the commit")
