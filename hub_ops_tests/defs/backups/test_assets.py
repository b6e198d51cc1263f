"""user_home_backups through Dagster: materialization metadata, the blocking `verified`
check, retention, and hubs that must not be backed up."""

from __future__ import annotations

import dataclasses

import dagster as dg
import pytest

from hub_ops.backup import Repository, SnapshotSummary
from hub_ops.defs.backups.assets import snapshot_metadata, user_home_backups
from hub_ops.defs.backups.partitions import backup_partition_key
from hub_ops_tests.defs.backups.conftest import make_homes
from hub_ops_tests.tables import rows

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _materialize(backup_fleet, instance, date: str, hub: str = "local-demo.staging", **kw):
    return dg.materialize(
        [user_home_backups],
        instance=instance,
        resources=backup_fleet.resources,
        partition_key=str(backup_partition_key(date, hub)),
        run_config=QUIET,
        **kw,
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", ["local-demo.staging", "local-demo.workshop"])
        yield instance


def test_nightly_materialization_metadata_and_history(backup_fleet, instance):
    backup_fleet.set_hub("local-demo", "staging", backups={"retain": {"last": 10}})
    make_homes(backup_fleet.homes / "staging")
    first = _materialize(backup_fleet, instance, "2026-11-01")
    assert first.success
    meta = first.asset_materializations_for_node("user_home_backups")[0].metadata
    assert meta["files"].value == 4 and meta["bytes"].value > 0
    assert meta["dedupe_ratio"].value > 1  # the course notebook is in both homes
    assert meta["new_bytes"].value > 0 and meta["duration_s"].value >= 0 and "throughput_mb_s" in meta
    snapshot_id = meta["snapshot_id"].value
    link = meta["manifest"].value
    assert link.endswith(f"snapshots/local-demo/staging/{snapshot_id}.parquet")
    [check] = first.get_asset_check_evaluations()
    assert check.check_name == "verified" and check.passed
    assert check.description.startswith("local-demo/staging: ") and check.metadata["hub"].value == "local-demo/staging"

    (backup_fleet.homes / "staging" / "bob" / "work" / "notes.md").write_text("edited\n")
    second = _materialize(backup_fleet, instance, "2026-11-02")
    meta2 = second.asset_materializations_for_node("user_home_backups")[0].metadata
    assert meta2["files_read"].value == 1 and 0 < meta2["new_bytes"].value < 100
    history = [r["snapshot"] for r in rows(meta2["history"])]
    assert history == [meta2["snapshot_id"].value, snapshot_id], "newest first"


def test_verified_check_fails_and_blocks_when_stored_data_is_missing(backup_fleet, instance):
    """Someone deleted objects in the bucket: the next night reuses its parent's contents
    for unchanged files, and the blocking check names what is gone; nothing is forgotten."""
    make_homes(backup_fleet.homes / "staging")
    assert _materialize(backup_fleet, instance, "2026-11-01").success
    fleet = backup_fleet.resources["fleet"].load()
    repo = Repository.open(fleet.settings.backups.destination, backup_fleet.resources["storage"].client())
    for obj in list(repo.store.list("packs/")):
        repo.store.delete(obj.key)
    result = _materialize(backup_fleet, instance, "2026-11-02", raise_on_error=False)
    assert not result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    problems = [r["problem"] for r in rows(check.metadata["problems"])]
    assert any("ada/work/notes.md: pack" in p and "is missing" in p for p in problems)
    assert check.description.startswith("local-demo/staging: ")
    assert len(repo.snapshot_ids("local-demo/staging")) == 2, "a bad night forgets nothing"


def test_a_hub_with_backups_disabled_fails_clearly(backup_fleet, instance):
    backup_fleet.set_hub("local-demo", "workshop", backups={"enabled": False})
    with pytest.raises(dg.Failure, match="local-demo/workshop has no backups to take"):
        _materialize(backup_fleet, instance, "2026-11-01", hub="local-demo.workshop")


def test_asset_declares_kinds_retries_pool_and_check():
    spec = user_home_backups.specs_by_key[dg.AssetKey("user_home_backups")]
    assert {"gcs", "kubernetes"} <= set(spec.kinds)
    assert user_home_backups.op.retry_policy.max_retries == 2
    assert user_home_backups.op.pool == "backups"
    assert [c.name for c in user_home_backups.check_specs] == ["verified"]
    assert next(iter(user_home_backups.check_specs)).blocking


def test_unreadable_files_are_a_table_of_path_and_reason():
    # as the snapshot records them: "path: reason", the first 100 of unreadable_count
    summary = SnapshotSummary(
        id="s1",
        hub="c/h",
        created="2026-11-01T02:00:00+00:00",
        parent=None,
        source="/homes",
        unreadable=["u/secret.txt: Permission denied", "u/notes: 2026.md: Permission denied"],
        unreadable_count=140,
    )
    meta = snapshot_metadata(summary, "file:///m", [])
    assert rows(meta["unreadable"]) == [
        {"path": "u/secret.txt", "reason": "Permission denied"},
        {"path": "u/notes: 2026.md", "reason": "Permission denied"},
    ]
    assert meta["unreadable_files"].value == 140
    clean = dataclasses.replace(summary, unreadable=[], unreadable_count=0)
    assert "unreadable" not in snapshot_metadata(clean, "file:///m", [])


def test_a_hub_with_backups_workers_gets_one_snapshot_from_that_many_workers(backup_fleet, instance):
    backup_fleet.set_hub("local-demo", "staging", backups={"workers": 2})
    make_homes(backup_fleet.homes / "staging", users=("ada", "bob", "cy"))
    result = _materialize(backup_fleet, instance, "2026-11-01")
    assert result.success
    meta = result.asset_materializations_for_node("user_home_backups")[0].metadata
    assert meta["files"].value == 6  # notes.md and course.ipynb of each of the three users
    fleet = backup_fleet.resources["fleet"].load()
    repo = Repository.open(fleet.settings.backups.destination, backup_fleet.resources["storage"].client())
    summary = repo.summary("local-demo/staging", meta["snapshot_id"].value)
    assert summary.workers == 2 and summary.files == 6
    assert not [o.key for o in repo.store.list("snapshots/") if "/parts/" in o.key]
