"""A fleet on the local stack with a hub to retire: `legacy` (successor `prod`) on cluster
alpha, homes in local folders, backups in a bucket of the GCS server."""

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from hub_ops.defs.decommission.jobs import decommission_job
from hub_ops.defs.deploy.jobs import deploy_job
from hub_ops.defs.shared.resources import BackupRunnerResource, ClockResource, StorageResource
from hub_ops_tests.fleet_repos import FleetRepo

TODAY = dt.date(2026, 12, 14)
PARTITION = "alpha.legacy"


def clock(today: dt.date | str = TODAY) -> ClockResource:
    return ClockResource(fixed_date=str(today))


@dataclass
class Retiring:
    repo: FleetRepo
    resources: dict
    homes: Path  # homes/legacy, homes/prod
    bucket: str

    @property
    def legacy_home(self) -> Path:
        return self.homes / "legacy"

    @property
    def prod_home(self) -> Path:
        return self.homes / "prod"

    def run(self, instance, today: dt.date | str = TODAY, **config):
        """A real retirement run (dry_run false unless given) of legacy's partition, on `today`."""
        config = {"dry_run": False, "namespace_timeout_s": 60, **config}
        instance.add_dynamic_partitions("hubs", [PARTITION])
        return decommission_job.execute_in_process(
            run_config={"ops": {"plan_decommission": {"config": config}}},
            instance=instance,
            resources={**self.resources, "clock": clock(today)},
            partition_key=PARTITION,
            raise_on_error=False,
        )


def write_homes(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@pytest.fixture
def retiring(tmp_path, fleet_repo_factory, deploy_resources, gcs_server, gcs_bucket, auto_kubelet):
    """`legacy` and `prod` deployed on alpha; legacy's homes hold alice's and bob's folders."""
    repo = fleet_repo_factory(clusters=("alpha",), hubs=("legacy", "prod"))
    homes = tmp_path / "homes"
    doc = repo.cluster_doc("alpha")
    for hub in doc["hubs"]:
        hub["home"] = {"local_path": str(homes / hub["name"])}
        hub["backups"] = {"destination": f"gs://{gcs_bucket}/backups"}
        if hub["name"] == "legacy":
            hub["decommission"] = {"on": TODAY, "successor": "prod", "notice_days": 14, "keep_backups_days": 30}
    repo.write_yaml("clusters/alpha/cluster.yaml", doc)
    repo.commit("legacy retires on 2026-12-14, homes to prod")
    write_homes(
        homes / "legacy",
        {
            "alice/analysis.ipynb": b'{"cells": []}\n',
            "alice/data/big.bin": os.urandom(300_000),
            "bob/notes.md": "caf\u00e9 notes\n".encode(),
            "bob/empty.txt": b"",
        },
    )
    os.symlink("analysis.ipynb", homes / "legacy" / "alice" / "latest.ipynb")
    write_homes(homes / "prod", {"carol/work.py": b"print('carol')\n"})
    resources = {
        **deploy_resources(repo),
        "storage": StorageResource(gcs_endpoint=gcs_server.endpoint, gcs_token="anon"),
        "backup_runner": BackupRunnerResource(kube=deploy_resources(repo)["kube"]),
    }
    with auto_kubelet(repo):
        with dg.instance_for_test() as instance:
            config = {"hubs": ["alpha/legacy", "alpha/prod"], "start_server": False, "ready_timeout_s": 20}
            assert deploy_job.execute_in_process(
                run_config={"ops": {"plan_deploy": {"config": config}}}, instance=instance, resources=resources
            ).success
        yield Retiring(repo, resources, homes, gcs_bucket)
