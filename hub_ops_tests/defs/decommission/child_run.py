"""Run decommission_job in a child process (the parent SIGKILLs it mid-run).
Usage: python -m hub_ops_tests.defs.decommission.child_run SPEC.json"""

import json
import sys

import dagster as dg

from hub_ops.defs.decommission.jobs import decommission_job
from hub_ops.defs.shared.resources import (
    BackupRunnerResource,
    FleetResource,
    GitResource,
    JupyterHubResource,
    KubeResource,
    SopsResource,
    StorageResource,
)


def main(spec_path: str) -> int:
    spec = json.loads(open(spec_path).read())
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
    }
    with dg.DagsterInstance.from_config(spec["instance_dir"]) as instance:
        result = decommission_job.execute_in_process(
            run_config={"ops": {"plan_decommission": {"config": spec["config"]}}},
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
