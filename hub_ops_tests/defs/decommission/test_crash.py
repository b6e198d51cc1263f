"""Interrupted decommissions, then rerun: the job finishes, and nothing destructive is done
twice (the final backup is retaken only while the hub is still deployed; recorded teardown
is not redone).

Two ways to interrupt: a run that stops right after each step (the job run up to that step,
so the point is exact), and kill -9 of a real child process at random moments, mid-step."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from hub_ops.backup import Repository
from hub_ops.defs.decommission.jobs import decommission_job
from hub_ops.defs.decommission.records import decommission_records
from hub_ops_tests.defs.decommission.conftest import TODAY

STEPS = [
    "gate_no_running_servers",
    "final_backup",
    "verify_final_backup",
    "migrate_homes_to_successor",
    "verify_migration",
    "uninstall_release",
    "delete_hub_namespace",
]
CONFIG = {"hub": "alpha/legacy", "today": TODAY.isoformat(), "namespace_timeout_s": 60}


def finished(retiring, instance, gcs_storage, expected_snapshots: set[int]) -> None:
    result = retiring.run(instance)
    assert result.success, [
        e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ]
    record = decommission_records(instance)["alpha/legacy"]
    assert record.state == "decommissioned"
    assert "| verify_migration | 4/4 files" in record.steps
    assert (retiring.prod_home / "alice/data/big.bin").stat().st_size == 300_000
    repo = Repository.open(f"gs://{retiring.bucket}/backups", gcs_storage)
    assert len(repo.snapshot_ids("alpha/legacy")) in expected_snapshots


@pytest.mark.parametrize("stop_after", STEPS)
def test_stopped_after_each_step_then_rerun(stop_after, retiring, gcs_storage):
    with dg.instance_for_test() as instance:
        partial = decommission_job.execute_in_process(
            run_config={"ops": {"plan_decommission": {"config": CONFIG}}},
            instance=instance,
            resources=retiring.resources,
            op_selection=[f"*{stop_after}"],
        )
        assert partial.success and "alpha/legacy" not in decommission_records(instance)
        teardown_began = STEPS.index(stop_after) >= STEPS.index("uninstall_release")
        backed_up = STEPS.index(stop_after) >= STEPS.index("final_backup")
        # one snapshot if teardown began (the recorded one is kept), else one more on the rerun
        finished(retiring, instance, gcs_storage, {1} if teardown_began or not backed_up else {2})
        steps = decommission_records(instance)["alpha/legacy"].steps
        if teardown_began:  # recorded by the first run, not redone ("already gone") by the rerun
            assert (
                f"| uninstall_release | release {retiring.repo.namespace('alpha', 'legacy')}/legacy uninstalled |"
                in steps
            )


def test_killed_at_random_moments_then_rerun(retiring, tmp_path, age_key, gcs_server, jupyterhub_server, gcs_storage):
    instance_dir = tmp_path / "instance"
    instance_dir.mkdir()
    (instance_dir / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    spec = {
        "fleet_root": str(retiring.repo.root),
        "git_cache": str(tmp_path / "git"),
        "age_key": str(age_key.path),
        "hub_api": jupyterhub_server.api_url,
        "gcs_endpoint": gcs_server.endpoint,
        "instance_dir": str(instance_dir),
        "config": CONFIG,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    rng = random.Random(20261214)
    kills = 0
    for _ in range(3):  # each attempt dies after a random delay, mid-step or between steps
        child = subprocess.Popen(
            [sys.executable, "-m", "hub_ops_tests.defs.decommission.child_run", str(tmp_path / "spec.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(rng.uniform(1.5, 4.5))  # a whole run takes over 8 s here: imports, then the steps
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            kills += 1
        child.wait()
    with dg.DagsterInstance.from_config(str(instance_dir)) as instance:
        # however far the killed runs got, the next run finishes; at most one snapshot per attempt
        finished(retiring, instance, gcs_storage, set(range(1, 5)))
    assert kills >= 1
