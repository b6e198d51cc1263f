"""Run decommission_job or restore_homes_job in a child process (the parent SIGKILLs it
mid-step; pauses.py stops it at a chosen point first).
Usage: python -m hub_ops_tests.defs.decommission.child_run SPEC.json"""

import json
import sys
from pathlib import Path

import dagster as dg

from hub_ops.defs.backups.jobs import restore_homes_job
from hub_ops.defs.decommission.jobs import decommission_job
from hub_ops.defs.shared.resources import (
    BackupRunnerResource,
    ClockResource,
    FleetResource,
    GitResource,
    JupyterHubResource,
    KubeResource,
    SopsResource,
    StorageResource,
)
from hub_ops_tests.defs.decommission import pauses

JOBS = {job.name: job for job in (decommission_job, restore_homes_job)}


def main(spec_path: str) -> int:
    spec = json.loads(open(spec_path).read())
    if spec.get("pause_in"):
        pauses.install(spec["pause_in"], Path(spec["marker"]))
    sops = SopsResource(age_key_file=spec["age_key"])
    kube = KubeResource(sops=sops)
    resources = {
        "fleet": FleetResource(root=spec["fleet_root"]),
        "git": GitResource(cache_dir=spec["git_cache"]),
        "sops": sops,
        "kube": kube,
        "hub_api": JupyterHubResource(url_template=spec["hub_api"]),
        "storage": StorageResource(gcs_endpoint=spec["gcs_endpoint"], gcs_token="anon"),
        "backup_runner": BackupRunnerResource(kube=kube),
        "clock": ClockResource(fixed_date=spec["today"]),
    }
    with dg.DagsterInstance.from_config(spec["instance_dir"]) as instance:
        instance.add_dynamic_partitions("hubs", [spec["partition"]])
        result = JOBS[spec.get("job", "decommission_job")].execute_in_process(
            run_config=spec["run_config"],
            instance=instance,
            resources=resources,
            partition_key=spec["partition"],
            raise_on_error=False,
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
