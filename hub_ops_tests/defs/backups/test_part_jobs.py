"""A big hub on a PVC backed up by several Kubernetes Jobs (`backups.workers: 3`), against
the local kube-apiserver, the Jobs' pods run by the stand-in kubelet (process_kubelet.py)
as `hub-ops` processes with the claim's local folder mounted: one planning Job, one Job per
part, one snapshot committed by the asset; a worker killed fails the run with nothing
visible, and the rerun runs only the missing part."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest
from kubernetes import client

from hub_ops.backup.errors import BackupError
from hub_ops.backup.parts import load_plan, missing_parts, pending_plans
from hub_ops.backup.repository import Repository
from hub_ops.backup.restore import restore_snapshot
from hub_ops.clients.storage import Storage
from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.backups.partitions import backup_partition_key
from hub_ops.defs.shared.home_pods import HOME_MOUNT
from hub_ops.defs.shared.resources import (
    BackupRunnerResource,
    FleetResource,
    KubeResource,
    SopsResource,
    StorageResource,
)
from hub_ops_dev.stack.pod_runtime import LocalImage
from hub_ops_dev.stack.process_kubelet import ProcessKubelet
from hub_ops_tests.defs.backups.conftest import add_pvc_hub, create_home_pvc

HUB = "kube-test.homes"
USERS = ("ada", "bob", "cy", "dee", "eve", "fay")


def _tree(root: Path) -> dict[str, bytes]:
    """Every file below `root` by relative path, with its bytes (the expectation)."""
    return {
        os.path.relpath(os.path.join(d, name), root): Path(d, name).read_bytes()
        for d, _dirs, files in os.walk(root)
        for name in files
    }


def _blobs(dest: Path) -> int:
    """Stored contents (blobs and packs): every object outside snapshots/, locks/, tmp/."""
    return sum(
        len(files)
        for d, _dirs, files in os.walk(dest)
        if os.path.relpath(d, dest).split(os.sep)[0] not in ("snapshots", "locks", "tmp")
    )


@pytest.fixture
def pvc_hub(example_fleet, tmp_path, kube_cluster, kube_api, kube_namespace):
    dest = tmp_path / "backups"
    add_pvc_hub(example_fleet, kube_cluster.kubeconfig, kube_namespace, f"file://{dest}", backups={"workers": 3})
    create_home_pvc(kube_api, kube_namespace)
    volume = tmp_path / "volume"  # what the PVC holds; the hub's homes are its `homes` folder
    for i, user in enumerate(USERS):
        (volume / "homes" / user / "data").mkdir(parents=True)
        (volume / "homes" / user / "data" / "results.bin").write_bytes(os.urandom(200_000 + 1000 * i))
        (volume / "homes" / user / "notes.md").write_text(f"{user}'s notes\n" * 50)
    image = LocalImage(path=(str(Path(sys.executable).parent),))  # `hub-ops` of this venv
    kubelet = ProcessKubelet(
        kube_api,
        lambda ns: ns == kube_namespace,
        tmp_path / "kubelet",
        {"hub-ops": image},
        claims={"home-nfs": volume},
    )
    resources = {
        "fleet": FleetResource(root=str(example_fleet)),
        "storage": StorageResource(local_root=str(tmp_path / "data")),
        "backup_runner": BackupRunnerResource(
            image="hub-ops:test", pod_env={"HUB_OPS_ENV": "local"}, kube=KubeResource(sops=SopsResource())
        ),
    }
    with kubelet:
        yield volume / "homes", dest, resources, kubelet


def _materialize(resources, instance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [user_home_backups],
        instance=instance,
        resources=resources,
        raise_on_error=False,
        partition_key=str(backup_partition_key("2026-11-01", HUB)),
    )


def _jobs(kube_api, namespace: str) -> list[client.V1Job]:
    return client.BatchV1Api(kube_api).list_namespaced_job(namespace).items


def test_three_workers_run_as_three_jobs_and_commit_one_snapshot_of_the_homes(
    pvc_hub, kube_api, kube_namespace, tmp_path
):
    homes, dest, resources, kubelet = pvc_hub
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [HUB])
        result = _materialize(resources, instance)
    assert result.success, kubelet.logs(kube_namespace)
    names = sorted(j.metadata.name for j in _jobs(kube_api, kube_namespace))
    assert [n.rsplit("-", 1)[0] for n in names] == [
        "hub-ops-backup-part0-homes",
        "hub-ops-backup-part1-homes",
        "hub-ops-backup-part2-homes",
        "hub-ops-plan-homes",
    ]
    for job in _jobs(kube_api, kube_namespace):
        [container] = job.spec.template.spec.containers
        [mount] = container.volume_mounts
        assert (mount.mount_path, mount.sub_path, mount.read_only) == (HOME_MOUNT, "homes", True)
        if "-part" in job.metadata.name:
            part = job.metadata.name.split("-part")[1].split("-")[0]
            assert container.command[container.command.index("--part") + 1] == part

    repo = Repository.open(f"file://{dest}", Storage())
    [snapshot] = repo.snapshot_ids(HUB)
    assert pending_plans(repo, HUB) == []  # committed: the plan and its parts are gone
    meta = result.asset_materializations_for_node("user_home_backups")[0].metadata
    assert meta["snapshot_id"].value == snapshot
    restore_snapshot(repo, HUB, str(tmp_path / "restored"), snapshot)
    assert _tree(tmp_path / "restored") == _tree(homes)
    assert repo.summary(HUB, snapshot).workers == 3


def _kill_part_when_it_runs(kubelet: ProcessKubelet, namespace: str, prefix: str, killed: dict) -> None:
    """kill -9 the process of the first pod named `prefix`* as soon as it has one."""
    stop = threading.Event()
    killed["stop"] = stop
    while not stop.wait(0.02):
        local = kubelet.pod(namespace, prefix)
        proc = local and local.containers[0].proc
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed["pid"] = proc.pid
            return


def test_a_killed_worker_fails_the_run_with_no_snapshot_and_the_rerun_runs_only_its_part(
    pvc_hub, kube_api, kube_namespace
):
    homes, dest, resources, kubelet = pvc_hub
    repo = Repository.open(f"file://{dest}", Storage())
    killed: dict = {}
    killer = threading.Thread(
        target=_kill_part_when_it_runs, args=(kubelet, kube_namespace, "hub-ops-backup-part1-", killed)
    )
    killer.start()
    # the failing attempt through the runner the asset calls: the asset's RetryPolicy would
    # rerun the step by itself after 5 minutes (which is the rerun below, done by hand)
    fleet = resources["fleet"].load()
    runner = resources["backup_runner"]
    with pytest.raises(BackupError) as failure:
        runner.backup(dg.build_op_context(), fleet, fleet.hub(HUB), resources["storage"].client())
    killed["stop"].set()
    killer.join(timeout=10)
    assert "pid" in killed, "the worker of part 1 never ran"
    message = str(failure.value)
    assert "1 of 3 backup workers" in message and "part 1 (job hub-ops-backup-part1-homes-" in message
    assert "Failed" in message  # the pod's state
    assert repo.snapshot_ids(HUB) == []  # nothing visible
    [plan_id] = pending_plans(repo, HUB)
    plan = load_plan(repo, HUB, plan_id)
    assert missing_parts(repo, plan) == [1]  # the two others finished and kept their parts
    blobs_after_failure = _blobs(dest)
    assert blobs_after_failure > 0
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [HUB])
        rerun = _materialize(resources, instance)
    assert rerun.success, kubelet.logs(kube_namespace)
    assert repo.snapshot_ids(HUB) == [plan_id]  # the pending plan was reused: its id is the snapshot's
    part_jobs = [j.metadata.name for j in _jobs(kube_api, kube_namespace) if "-part" in j.metadata.name]
    # the failed Job was deleted; the two finished ones and the rerun's one Job remain
    assert sorted(n.rsplit("-", 1)[0] for n in part_jobs) == [
        "hub-ops-backup-part0-homes",
        "hub-ops-backup-part1-homes",
        "hub-ops-backup-part2-homes",
    ]
    # each user's results.bin is a blob of its own: the rerun uploaded only part 1's
    added = _blobs(dest) - blobs_after_failure
    part1_files = sum(1 for name in plan.parts[1] for f in _tree(homes / name))
    assert 0 < added <= part1_files < _blobs(dest)
    restored = homes.parent / "restored"
    restore_snapshot(repo, HUB, str(restored), plan_id)
    assert _tree(restored) == _tree(homes)
