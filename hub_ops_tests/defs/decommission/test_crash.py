"""Interrupted decommissions, then rerun: the job finishes, no home file is lost, and nothing
destructive is done twice (the final backup is retaken only while the hub is still deployed;
recorded teardown is not redone; the hub is recorded once).

Two ways to interrupt: a run that stops right after each step (the job run up to that step,
so the point is exact), and SIGKILL of a real child process while each destructive step is
in progress (pauses.py stops the child at a point inside the step, the test waits for its
marker and kills the process group; the journal shows where it landed)."""

import dagster as dg
import pytest

from hub_ops.backup import Repository
from hub_ops.clients.helm import HelmClient
from hub_ops.defs.decommission.assets import HUB_DECOMMISSIONS
from hub_ops.defs.decommission.jobs import decommission_job
from hub_ops.defs.decommission.journal import read_journal
from hub_ops.defs.decommission.records import decommission_records, decommissioned_hubs
from hub_ops.defs.shared.metadata import plain_values
from hub_ops_tests.backup.trees import diff_trees, read_tree
from hub_ops_tests.defs.decommission.conftest import PARTITION, ChildRuns, clock
from hub_ops_tests.defs.decommission.pauses import wait_for_marker

STEPS = [
    "gate_no_running_servers",
    "final_backup",
    "verify_final_backup",
    "migrate_homes_to_successor",
    "verify_migration",
    "uninstall_release",
    "delete_hub_namespace",
]
CONFIG = {"dry_run": False, "namespace_timeout_s": 60}


def finished(retiring, instance, gcs_storage, expected_snapshots: set[int]) -> None:
    result = retiring.run(instance)
    assert result.success, [
        e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ]
    record = decommission_records(instance)["alpha/legacy"]
    assert record.state == "decommissioned"
    assert dict(record.steps)["verify_migration"].startswith("4/4 files")
    assert (retiring.prod_home / "alice/data/big.bin").stat().st_size == 300_000
    repo = Repository.open(f"gs://{retiring.bucket}/backups", gcs_storage)
    assert len(repo.snapshot_ids("alpha/legacy")) in expected_snapshots


@pytest.mark.parametrize("stop_after", STEPS)
def test_stopped_after_each_step_then_rerun(stop_after, retiring, gcs_storage):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [PARTITION])
        partial = decommission_job.execute_in_process(
            run_config={"ops": {"plan_decommission": {"config": CONFIG}}},
            instance=instance,
            resources={**retiring.resources, "clock": clock()},
            partition_key=PARTITION,
            op_selection=[f"*{stop_after}"],
        )
        teardown_began = STEPS.index(stop_after) >= STEPS.index("uninstall_release")
        record = decommission_records(instance).get("alpha/legacy")
        assert partial.success
        assert (record.state if record else None) == ("teardown began" if teardown_began else None)
        backed_up = STEPS.index(stop_after) >= STEPS.index("final_backup")
        # one snapshot if teardown began (the recorded one is kept), else one more on the rerun
        finished(retiring, instance, gcs_storage, {1} if teardown_began or not backed_up else {2})
        steps = dict(decommission_records(instance)["alpha/legacy"].steps)
        if teardown_began:  # recorded by the first run, not redone ("already gone") by the rerun
            ns = retiring.repo.namespace("alpha", "legacy")
            assert steps["uninstall_release"] == f"release {ns}/legacy uninstalled"


# the step a kill lands in -> the last step the killed run journaled before it
KILLED_IN = {
    "final_backup": "gate_no_running_servers",
    "migrate_homes": "verify_final_backup",
    "uninstall_release": "teardown_began",
    "delete_hub_namespace": "uninstall_release",
}


def _journaled(instance, step: str) -> int:
    """How many times `step` was journaled, over every run."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=HUB_DECOMMISSIONS, asset_partitions=[PARTITION]), limit=500
    ).records
    return sum(1 for r in records if plain_values(r.asset_observation.metadata).get("step") == step)


def _decommissioned_records(instance) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=HUB_DECOMMISSIONS, asset_partitions=[PARTITION]), limit=500
    ).records
    return sum(1 for r in records if plain_values(r.asset_materialization.metadata).get("state") == "decommissioned")


@pytest.mark.parametrize("step", list(KILLED_IN))
def test_sigkill_inside_each_destructive_step_then_rerun(step, retiring, child_runs, gcs_storage, age_key):
    legacy_before = read_tree(retiring.legacy_home)
    prod_before = read_tree(retiring.prod_home)
    child, marker = child_runs.start(pause_in=step)
    landed = wait_for_marker(marker, child)
    ChildRuns.kill(child)
    assert child.returncode == -9 and landed["point"] == step

    with dg.DagsterInstance.from_config(child_runs.instance_dir) as instance:
        # the journal says the kill landed inside `step`: the step before it is done, it is not
        journal = read_journal(instance, PARTITION)
        assert KILLED_IN[step] in journal, journal
        assert step not in journal, journal
        repo = Repository.open(f"gs://{retiring.bucket}/backups", gcs_storage)
        if step == "final_backup":  # contents uploaded, no manifest: no snapshot yet
            assert repo.snapshot_ids("alpha/legacy") == []
            assert any(p.startswith(("packs/", "blobs/")) for p in _stored_keys(repo))
        if step == "migrate_homes":  # some of legacy's files copied, not all
            copied = set(read_tree(retiring.prod_home)) - set(prod_before)
            assert 0 < len([p for p in copied if p in legacy_before]) < len(legacy_before)
        if step in ("uninstall_release", "delete_hub_namespace"):
            # half torn down: deploys and backups skip the hub until a rerun finishes it
            assert decommissioned_hubs(instance) == {
                "alpha/legacy": "teardown began on 2026-12-14: rerun decommission_job to finish it"
            }
        else:
            assert decommissioned_hubs(instance) == {}
        if step == "uninstall_release":  # helm uninstall ran, the journal does not know yet
            helm = _helm(retiring, age_key)
            assert helm.current("legacy", retiring.repo.namespace("alpha", "legacy")) is None
            helm.close()

        finished(retiring, instance, gcs_storage, {1, 2})

        # no home file lost: every file of legacy's homes is in prod's, as it was; prod's own untouched
        migrated = {k: v for k, v in read_tree(retiring.prod_home).items() if k in legacy_before}
        assert diff_trees(legacy_before, migrated) == []
        assert (
            diff_trees(prod_before, {k: v for k, v in read_tree(retiring.prod_home).items() if k in prod_before}) == []
        )
        assert read_tree(retiring.legacy_home) == legacy_before
        # teardown never repeated, the hub recorded once
        assert _journaled(instance, "uninstall_release") == 1
        assert _journaled(instance, "delete_hub_namespace") == 1
        assert _decommissioned_records(instance) == 1
        steps = dict(decommission_records(instance)["alpha/legacy"].steps)
        if step == "uninstall_release":  # the killed run had uninstalled it: the rerun found it gone
            assert steps["uninstall_release"].startswith("release ") and steps["uninstall_release"].endswith(
                "already gone"
            )


def _stored_keys(repo: Repository) -> list[str]:
    return [info.key for prefix in ("packs/", "blobs/") for info in repo.store.list(prefix)]


def _helm(retiring, age_key) -> HelmClient:
    from hub_ops.clients.clusters import cluster_access
    from hub_ops.clients.sops import Sops
    from hub_ops.fleet import load_fleet

    fleet = load_fleet(retiring.repo.root)
    return HelmClient(cluster_access(fleet, fleet.clusters["alpha"], Sops(str(age_key.path))))
