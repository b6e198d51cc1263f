"""restore_homes_job, migrate_homes_job and prune_backup_blobs_job, run as Dagster jobs with
the typed config a person fills in the UI, for a hub partition (what the Launchpad asks)."""

from __future__ import annotations

import os
import shutil

import dagster as dg
import pytest

from hub_ops.backup import Repository, create_snapshot
from hub_ops.defs.backups.jobs import migrate_homes_job, restore_homes_job
from hub_ops_tests.backup.trees import diff_trees, read_tree
from hub_ops_tests.defs.backups.conftest import make_homes
from hub_ops_tests.defs.domain import definitions_with
from hub_ops_tests.tables import rows


def _job(backup_fleet, name: str) -> dg.JobDefinition:
    return definitions_with(backup_fleet.resources).resolve_job_def(name)


def _run(backup_fleet, name: str, partition: str, config: dict) -> dg.ExecuteInProcessResult:
    """A launch of `name` for hub `partition` (cluster.hub), as from the Launchpad."""
    op = {"restore_homes_job": "restore_homes", "migrate_homes_job": "migrate_homes"}[name]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [partition])
        result = _job(backup_fleet, name).execute_in_process(
            run_config={"ops": {op: {"config": config}}},
            instance=instance,
            partition_key=partition,
            raise_on_error=False,
        )
        # one run per hub (dagster.yaml), the hub spelled as people read it
        assert result.dagster_run.tags["hub_ops/hub"] == partition.replace(".", "/", 1)
        return result


def _repo(backup_fleet) -> Repository:
    fleet = backup_fleet.resources["fleet"].load()
    return Repository.open(fleet.settings.backups.destination, backup_fleet.resources["storage"].client())


def _output_metadata(result) -> dict:
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    return output.event_specific_data.metadata


def _failure(result) -> str:
    return "\n".join(e.event_specific_data.error.message for e in result.all_events if e.is_step_failure)


def _older_by(path, seconds: int) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def test_config_forms_are_typed():
    ok = dg.validate_run_config(restore_homes_job, {"ops": {"restore_homes": {"config": {"users": ["ada"]}}}})
    assert ok["ops"]["restore_homes"]["config"]["snapshot"] == "latest"
    assert ok["ops"]["restore_homes"]["config"]["all_users"] is False
    with pytest.raises(dg.DagsterInvalidConfigError, match="source_hub"):
        dg.validate_run_config(migrate_homes_job, {"ops": {"migrate_homes": {"config": {}}}})
    with pytest.raises(dg.DagsterInvalidConfigError, match="hub"):  # the hub is the partition, not config
        dg.validate_run_config(restore_homes_job, {"ops": {"restore_homes": {"config": {"hub": "c/h"}}}})


def test_restore_one_user_back_into_the_hubs_homes(backup_fleet):
    homes = backup_fleet.homes / "staging"
    make_homes(homes)
    before = read_tree(homes)
    create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    shutil.rmtree(homes / "bob")  # the accident
    (homes / "ada" / "work" / "notes.md").write_text("ada kept working after the backup\n")
    result = _run(backup_fleet, "restore_homes_job", "local-demo.staging", {"users": ["bob"]})
    assert result.success, _failure(result)
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
    assert meta["into"].value == "live homes, users: bob"


def test_a_launch_that_names_nobody_restores_beside_the_homes_not_into_them(backup_fleet):
    homes = backup_fleet.homes / "staging"
    make_homes(homes)
    snapshot = create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    (homes / "ada" / "work" / "notes.md").write_text("written after the backup\n")
    _older_by(homes / "ada" / "work" / "notes.md", 3600 * 24 * 365)  # even an older file is not touched
    shutil.rmtree(homes / "bob")
    live_before = read_tree(homes)
    result = _run(backup_fleet, "restore_homes_job", "local-demo.staging", {})
    assert result.success, _failure(result)
    scratch = homes / ".hub-ops-restored" / snapshot.id
    assert {k: v for k, v in read_tree(homes).items() if not k.startswith(b".hub-ops-restored")} == live_before
    assert (scratch / "bob" / "work" / "notes.md").exists() and (scratch / "ada" / "course.ipynb").exists()
    meta = _output_metadata(result)
    assert meta["into"].value == f"scratch folder .hub-ops-restored/{snapshot.id} beside the homes (no users named)"


def test_every_user_into_the_live_homes_needs_a_reason_which_is_recorded(backup_fleet):
    homes = backup_fleet.homes / "staging"
    make_homes(homes)
    create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    shutil.rmtree(homes / "bob")
    refused = _run(backup_fleet, "restore_homes_job", "local-demo.staging", {"all_users": True})
    assert not refused.success and "give all_users_reason" in _failure(refused)
    assert not (homes / "bob").exists()
    reason = "disk lost overnight: INC-1234"
    result = _run(
        backup_fleet, "restore_homes_job", "local-demo.staging", {"all_users": True, "all_users_reason": reason}
    )
    assert result.success, _failure(result)
    assert (homes / "bob" / "work" / "notes.md").exists()
    meta = _output_metadata(result)
    assert meta["all_users_reason"].value == reason and meta["into"].value == "live homes, every user"


def test_a_file_newer_than_the_snapshots_copy_is_kept_unless_a_reason_is_given(backup_fleet):
    homes = backup_fleet.homes / "staging"
    make_homes(homes)
    create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    newer, older = homes / "ada" / "work" / "notes.md", homes / "ada" / "course.ipynb"
    newer.write_text("ada's work since the backup\n")
    older.write_text("an older copy\n")
    _older_by(older, 3600 * 24 * 365)
    result = _run(backup_fleet, "restore_homes_job", "local-demo.staging", {"users": ["ada"]})
    assert result.success, _failure(result)
    assert newer.read_text() == "ada's work since the backup\n"  # kept
    assert older.read_text() == "the shared course notebook\n" * 200  # older: restored
    meta = _output_metadata(result)
    assert meta["kept_newer"].value == 1
    assert [r.data for r in meta["kept_newer_files"].value.records] == [{"path": "ada/work/notes.md"}]
    result = _run(
        backup_fleet,
        "restore_homes_job",
        "local-demo.staging",
        {"users": ["ada"], "overwrite_newer_reason": "ada wants last night's notes back"},
    )
    assert result.success, _failure(result)
    assert newer.read_text() == "ada \n" * 100
    meta = _output_metadata(result)
    assert meta["overwrite_newer_reason"].value == "ada wants last night's notes back"
    assert (meta["kept_newer_files"].value.records, meta["kept_newer_files"].value.schema.columns[0].name) == (
        [],
        "path",
    )


def test_restore_into_a_folder(backup_fleet, tmp_path):
    homes = backup_fleet.homes / "staging"
    make_homes(homes)
    create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    result = _run(backup_fleet, "restore_homes_job", "local-demo.staging", {"target": str(tmp_path / "copy")})
    assert result.success, _failure(result)
    assert diff_trees(read_tree(homes), read_tree(tmp_path / "copy")) == []


def test_a_target_inside_the_live_homes_is_refused(backup_fleet):
    homes = backup_fleet.homes / "staging"
    make_homes(homes)
    create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    result = _run(backup_fleet, "restore_homes_job", "local-demo.staging", {"target": str(homes / "ada")})
    assert not result.success and "is inside local-demo/staging's live homes" in _failure(result)


def test_migrate_a_snapshot_into_another_hubs_homes(backup_fleet):
    old, new = backup_fleet.homes / "staging", backup_fleet.homes / "workshop"
    make_homes(old, users=("ada", "bob"), tag="as they were")
    snapshot = create_snapshot(_repo(backup_fleet), "local-demo/staging", old)
    expected = read_tree(old)
    make_homes(old, users=("ada",), tag="changed after the snapshot")
    make_homes(new, users=("zed",))  # the new hub already has a user
    config = {"source_hub": "local-demo/staging", "snapshot": snapshot.id[:15], "users": ["ada", "bob"]}
    result = _run(backup_fleet, "migrate_homes_job", "local-demo.workshop", config)
    assert result.success, _failure(result)
    migrated = {k: v for k, v in read_tree(new).items() if not k.startswith(b"zed")}
    assert diff_trees(expected, migrated) == []
    assert (new / "zed" / "work" / "notes.md").exists()
    meta = _output_metadata(result)
    assert meta["files"].value == 4 and meta["into_hub"].value == "local-demo/workshop"


def test_migrating_into_the_same_hub_is_refused(backup_fleet):
    result = _run(backup_fleet, "migrate_homes_job", "local-demo.staging", {"source_hub": "local-demo/staging"})
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
    [destination] = rows(_output_metadata(result)["destinations"])  # one destination, one blob deleted
    assert destination["blobs_deleted"] == 1 and destination["skipped_because"] == ""
    from hub_ops.backup import verify_snapshot

    assert verify_snapshot(repo, "local-demo/staging", deep=True).ok


def test_a_whole_hub_restore_with_two_workers_runs_two_processes_into_the_local_homes(backup_fleet):
    homes = backup_fleet.homes / "staging"
    make_homes(homes, users=("ada", "bob", "cy", "dee"))
    (homes / "cy" / "big.bin").write_bytes(os.urandom(300_000))  # shares by size: cy alone, the rest together
    before = read_tree(homes)
    create_snapshot(_repo(backup_fleet), "local-demo/staging", homes)
    backup_fleet.set_hub("local-demo", "staging", backups={"workers": 2})
    for user in ("ada", "bob", "cy", "dee"):
        shutil.rmtree(homes / user)
    reason = "disk lost overnight: INC-1235"
    result = _run(
        backup_fleet, "restore_homes_job", "local-demo.staging", {"all_users": True, "all_users_reason": reason}
    )
    assert result.success, _failure(result)
    assert diff_trees(before, read_tree(homes)) == []
    meta = _output_metadata(result)
    assert meta["restore_workers"].value == 2 and meta["restore_workers_because"].value == "backups.workers: 2"
    assert meta["ran_in"].value.startswith("pods of the target hub's cluster, or worker processes")
