"""A fleet on the local stack with a hub to retire: `legacy` (successor `prod`) on cluster
alpha, homes in local folders, backups in a bucket of the GCS server."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
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
            config = {
                "hubs": ["alpha/legacy", "alpha/prod"],
                "start_server": False,
                "ready_timeout_s": 20,
                "dry_run": False,
            }
            assert deploy_job.execute_in_process(
                run_config={"ops": {"plan_deploy": {"config": config}}}, instance=instance, resources=resources
            ).success
        yield Retiring(repo, resources, homes, gcs_bucket)


@dataclass
class ChildRuns:
    """Runs of hub_ops jobs in child processes on the `retiring` fleet, sharing one instance
    folder with the test, each paused at a chosen point (pauses.py) for the test to kill."""

    spec: dict
    folder: Path

    @property
    def instance_dir(self) -> str:
        return self.spec["instance_dir"]

    def start(self, pause_in: str, job: str = "decommission_job", partition: str = PARTITION, run_config=None):
        marker = self.folder / f"{job}-{pause_in}.marker"
        spec = {
            **self.spec,
            "job": job,
            "partition": partition,
            "pause_in": pause_in,
            "marker": str(marker),
            "run_config": run_config
            or {"ops": {"plan_decommission": {"config": {"dry_run": False, "namespace_timeout_s": 60}}}},
        }
        path = self.folder / f"{job}-{pause_in}.json"
        path.write_text(json.dumps(spec))
        child = subprocess.Popen(
            [sys.executable, "-m", "hub_ops_tests.defs.decommission.child_run", str(path)],
            stdout=open(self.folder / f"{job}-{pause_in}.log", "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return child, marker

    @staticmethod
    def kill(child) -> None:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


@pytest.fixture
def child_runs(retiring, tmp_path, age_key, gcs_server, jupyterhub_server):
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
        "today": TODAY.isoformat(),
    }
    runs = ChildRuns(spec, tmp_path)
    started: list = []
    real_start = runs.start

    def start(*args, **kwargs):
        child, marker = real_start(*args, **kwargs)
        started.append(child)
        return child, marker

    runs.start = start
    yield runs
    for child in started:
        ChildRuns.kill(child)
