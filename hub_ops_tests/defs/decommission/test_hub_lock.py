"""One change to a hub at a time, whoever launches it: a restore into a hub's homes, its
decommission and a deploy (a Lease held as `deploy <run>`, what deploys take) never overlap.
Runs of different kinds on one hub, at the same time, on the local stack: the second one
waits for the hub's Lease and fails naming its holder, having changed nothing."""

import dagster as dg

from hub_ops.backup import Repository, create_snapshot
from hub_ops.clients.leases import LEASE_NAMESPACE, hub_lease_name
from hub_ops.defs.backups.jobs import restore_homes_job
from hub_ops.defs.shared.resources import BackupRunnerResource, KubeResource
from hub_ops_tests.backup.trees import read_tree
from hub_ops_tests.defs.decommission.conftest import PARTITION, ChildRuns, clock
from hub_ops_tests.defs.decommission.pauses import wait_for_marker
from hub_ops_tests.defs.decommission.test_jobs import failure_text, untouched

RESTORE_ALICE = {"ops": {"restore_homes": {"config": {"users": ["alice"]}}}}


def impatient(retiring, wait_s: float = 3) -> dict:
    """The fixture's resources, waiting only `wait_s` for the hub's Lease."""
    kube = KubeResource(sops=retiring.resources["sops"], lease_wait_s=wait_s)
    return {**retiring.resources, "kube": kube, "backup_runner": BackupRunnerResource(kube=kube), "clock": clock()}


def restore_alice(retiring, instance, resources):
    instance.add_dynamic_partitions("hubs", [PARTITION])
    return restore_homes_job.execute_in_process(
        run_config=RESTORE_ALICE, instance=instance, resources=resources, partition_key=PARTITION, raise_on_error=False
    )


def lease_holder(retiring) -> str | None:
    fleet = retiring.resources["fleet"].load()
    hub = fleet.hub("alpha/legacy")
    client = retiring.resources["kube"].client(fleet, fleet.clusters["alpha"])
    return client.lease_holder(LEASE_NAMESPACE, hub_lease_name(hub.effective_namespace))


def lose_alices_notebook(retiring, gcs_storage) -> bytes:
    """Last night's snapshot of legacy's homes, then alice's notebook is lost."""
    repo = Repository.open(f"gs://{retiring.bucket}/backups", gcs_storage)
    create_snapshot(repo, "alpha/legacy", retiring.legacy_home)
    notebook = retiring.legacy_home / "alice/analysis.ipynb"
    data = notebook.read_bytes()
    notebook.unlink()
    return data


def test_a_restore_waits_for_a_deploy_then_fails_naming_it(retiring, gcs_storage):
    lost = lose_alices_notebook(retiring, gcs_storage)
    fleet = retiring.resources["fleet"].load()
    with dg.instance_for_test() as instance:
        with retiring.resources["kube"].hub_lock(fleet, fleet.hub("alpha/legacy"), "deploy run-1234"):
            result = restore_alice(retiring, instance, impatient(retiring))
            assert not result.success
            assert "is held by 'deploy run-1234'; waited 3 s" in failure_text(result)
            assert not (retiring.legacy_home / "alice/analysis.ipynb").exists()  # nothing written meanwhile
        # the deploy gave the Lease back: the same restore goes through
        assert restore_alice(retiring, instance, impatient(retiring)).success
        assert (retiring.legacy_home / "alice/analysis.ipynb").read_bytes() == lost
        assert lease_holder(retiring) is None  # and gave it back in turn


def test_a_restore_fails_while_a_decommission_of_the_hub_runs(retiring, child_runs, gcs_storage):
    lose_alices_notebook(retiring, gcs_storage)
    before = read_tree(retiring.legacy_home)
    child, marker = child_runs.start(pause_in="migrate_homes")  # the decommission, mid migration
    wait_for_marker(marker, child)
    assert lease_holder(retiring) == "decommission alpha/legacy"
    with dg.instance_for_test() as instance:
        result = restore_alice(retiring, instance, impatient(retiring))
    ChildRuns.kill(child)
    assert not result.success
    assert "is held by 'decommission alpha/legacy'" in failure_text(result)
    assert read_tree(retiring.legacy_home) == before


def test_a_decommission_fails_while_a_restore_into_the_hub_runs(retiring, child_runs, gcs_storage, age_key):
    lose_alices_notebook(retiring, gcs_storage)
    child, marker = child_runs.start(pause_in="restore", job="restore_homes_job", run_config=RESTORE_ALICE)
    wait_for_marker(marker, child)
    holder = lease_holder(retiring)
    assert holder is not None and holder.startswith("restore ")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [PARTITION])
        from hub_ops.defs.decommission.jobs import decommission_job

        result = decommission_job.execute_in_process(
            run_config={"ops": {"plan_decommission": {"config": {"dry_run": False}}}},
            instance=instance,
            resources=impatient(retiring),
            partition_key=PARTITION,
            raise_on_error=False,
        )
        assert not result.success
        assert f"is held by {holder!r}" in failure_text(result)
        failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert failed == ["gate_no_running_servers"]  # the first step that touches the hub: nothing done
    ChildRuns.kill(child)
    untouched(retiring, age_key)
