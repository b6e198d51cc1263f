"""restore_homes_job, migrate_homes_job and prune_backup_blobs_job, run as Dagster jobs with
the typed config a person fills in the UI."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest

from hub_ops.backup import Repository, create_snapshot
from hub_ops.defs.backups.jobs import migrate_homes_job, restore_homes_job
from hub_ops_tests.backup.trees import diff_trees, read_tree
from hub_ops_tests.defs.backups.conftest import make_homes
from hub_ops_tests.defs.domain import definitions_with


def _job(backup_fleet, name: str) -> dg.JobDefinition:
    return definitions_with(backup_fleet.resources).resolve_job_def(name)


def _repo(backup_fleet) -> Repository:
    fleet = backup_fleet.resources["fleet"].load()
    return Repository.open(fleet.settings.backups.destination, backup_fleet.resources["storage"].client())


def _output_metadata(result) -> dict:
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return output.event_specific_data.metadata


def test_config_forms_are_typed():
    ok = dg.validate_run_config(
        restore_homes_job, {"ops": {"restore_homes": {"config": {"hub": "c/h", "user": "ada"}}}}
    )
    assert ok["ops"]["restore_homes"]["config"]["snapshot"] == "latest"
    with pytest.raises(dg.DagsterInvalidConfigError, match="target_hub"):
        dg.validate_run_config(migrate_homes_job, {"ops": {"migrate_homes": {"config": {"hub": "c/h"}}}})


def test_restore_one_user_back_into_the_hubs_homes(backup_fleet):
    homes = backup_fleet.homes / "staging"
    make_homes(homes)
    before = read_tree(homes)
    create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    shutil.rmtree(homes / "bob")  # the accident
    (homes / "ada" / "work" / "notes.md").write_text("ada kept working after the backup\n")
    result = _job(backup_fleet, "restore_homes_job").execute_in_process(
        run_config={"ops": {"restore_homes": {"config": {"hub": "local-demo/staging", "user": "bob"}}}}
    )
    assert result.success
    assert (
        diff_trees(
            {k: v for k, v in before.items() if k.startswith(b"bob")},
            {k: v for k, v in read_tree(homes).items() if k.startswith(b"bob")},
        )
        == []
    )
    assert (homes / "ada" / "work" / "notes.md").read_text() == "ada kept working after the backup\n"
    meta = _output_metadata(result)
    assert meta["files"].value == 2 and meta["target"].value == str(homes)


def test_restore_into_a_folder(backup_fleet, tmp_path):
    homes = backup_fleet.homes / "staging"
    make_homes(homes)
    create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    result = _job(backup_fleet, "restore_homes_job").execute_in_process(
        run_config={
            "ops": {"restore_homes": {"config": {"hub": "local-demo/staging", "target": str(tmp_path / "copy")}}}
        }
    )
    assert result.success
    assert diff_trees(read_tree(homes), read_tree(tmp_path / "copy")) == []


def test_migrate_a_snapshot_into_another_hubs_homes(backup_fleet):
    old, new = backup_fleet.homes / "staging", backup_fleet.homes / "workshop"
    make_homes(old, users=("ada", "bob"), tag="as they were")
    snapshot = create_snapshot(_repo(backup_fleet), "local-demo/staging", old)
    expected = read_tree(old)
    make_homes(old, users=("ada",), tag="changed after the snapshot")
    make_homes(new, users=("zed",))  # the new hub already has a user
    result = _job(backup_fleet, "migrate_homes_job").execute_in_process(
        run_config={
            "ops": {
                "migrate_homes": {
                    "config": {
                        "hub": "local-demo/staging",
                        "target_hub": "local-demo/workshop",
                        "snapshot": snapshot.id[:15],
                    }
                }
            }
        }
    )
    assert result.success
    migrated = {k: v for k, v in read_tree(new).items() if not k.startswith(b"zed")}
    assert diff_trees(expected, migrated) == []
    assert (new / "zed" / "work" / "notes.md").exists()
    meta = _output_metadata(result)
    assert meta["files"].value == 4 and meta["into"].value == "local-demo/workshop"


def test_migrating_into_the_same_hub_is_refused(backup_fleet):
    result = _job(backup_fleet, "migrate_homes_job").execute_in_process(
        raise_on_error=False,
        run_config={
            "ops": {"migrate_homes": {"config": {"hub": "local-demo/staging", "target_hub": "local-demo/staging"}}}
        },
    )
    assert not result.success
    assert "same hub" in str(result.failure_data_for_node("migrate_homes").error.message)


def test_prune_blobs_job_deletes_only_unreferenced_contents(backup_fleet):
    homes = backup_fleet.homes / "staging"
    repo = _repo(backup_fleet)
    make_homes(homes)
    (homes / "ada" / "big.bin").write_bytes(b"one" * (1 << 20))
    first = create_snapshot(repo, "local-demo/staging", homes)
    (homes / "ada" / "big.bin").write_bytes(b"two" * (1 << 20))
    create_snapshot(repo, "local-demo/staging", homes)
    repo.store.delete(repo.manifest_key("local-demo/staging", first.id))  # forgotten by retention
    result = _job(backup_fleet, "prune_backup_blobs_job").execute_in_process(
        run_config={"ops": {"prune_backup_blobs": {"config": {"grace_hours": 0}}}}
    )
    assert result.success
    table = _output_metadata(result)["destinations"].value
    assert table.count("\n") == 2 and "| 1 |" in table  # one destination, one blob deleted
    from hub_ops.backup import verify_snapshot

    assert verify_snapshot(repo, "local-demo/staging", deep=True).ok
