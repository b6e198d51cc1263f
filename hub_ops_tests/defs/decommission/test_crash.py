"""kill -9 after each step of decommission_job, then rerun: the job finishes, and nothing
destructive is done twice (one final snapshot, 'already gone' where teardown was done)."""

import json
import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest

from hub_ops.backup import Repository
from hub_ops.defs.decommission.assets import HUB_DECOMMISSIONS
from hub_ops.defs.decommission.state import decommission_records
from hub_ops_tests.defs.decommission.conftest import TODAY

STEPS = ["gate_no_running_servers", "final_backup", "verify_final_backup", "migrate_homes", "verify_migration",
         "uninstall_release", "delete_hub_namespace"]


def journal_steps(instance_dir) -> list[str]:
    with dg.DagsterInstance.from_config(str(instance_dir)) as instance:
        records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=HUB_DECOMMISSIONS), limit=100).records
        return [getattr(r.asset_observation.metadata["step"], "value", None) for r in records]


@pytest.mark.parametrize("kill_after", ["final_backup", "migrate_homes", "uninstall_release", "delete_hub_namespace"])
def test_killed_after_a_step_then_rerun(kill_after, retiring, tmp_path, age_key, gcs_server, jupyterhub_server, gcs_storage):
    instance_dir = tmp_path / "instance"
    instance_dir.mkdir()
    (instance_dir / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    spec = {"fleet_root": str(retiring.repo.root), "git_cache": str(tmp_path / "git"), "age_key": str(age_key.path),
            "hub_api": jupyterhub_server.api_url, "gcs_endpoint": gcs_server.endpoint, "instance_dir": str(instance_dir),
            "config": {"hub": "alpha/legacy", "today": TODAY.isoformat(), "namespace_timeout_s": 60}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    child = subprocess.Popen([sys.executable, "-m", "hub_ops_tests.defs.decommission.child_run", str(tmp_path / "spec.json")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 180
    while kill_after not in journal_steps(instance_dir):
        assert child.poll() is None, "the run ended before the step to kill after"
        assert time.monotonic() < deadline, "the step never finished"
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()

    with dg.DagsterInstance.from_config(str(instance_dir)) as instance:
        assert "alpha/legacy" not in decommission_records(instance)
        result = retiring.run(instance)
        assert result.success, [e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        steps = decommission_records(instance)["alpha/legacy"]["steps"]
    repo = Repository.open(f"gs://{retiring.bucket}/backups", gcs_storage)
    after_teardown = STEPS.index(kill_after) >= STEPS.index("uninstall_release")
    # the final backup is retaken (incrementally) only while the hub is still deployed
    assert len(repo.snapshot_ids("alpha/legacy")) == (1 if after_teardown else 2)
    # teardown done before the kill is not redone: the journal keeps its first result
    if after_teardown:
        assert f"| uninstall_release | release {retiring.repo.namespace('alpha', 'legacy')}/legacy uninstalled |" in steps
    assert (retiring.prod_home / "alice/analysis.ipynb").exists()
