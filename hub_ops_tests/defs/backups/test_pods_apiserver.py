"""Backups of homes on a PVC, against the local kube-apiserver: the asset creates the
backup Job in the hub's namespace with the home volume mounted, waits for it, and records
the snapshot the pod wrote. The test plays the kubelet: it runs the pod's container
command here, with the mount path pointing at a folder standing in for the volume."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest
from kubernetes import client

from hub_ops.clients.kube import ClusterAccess, KubeClient, NotReady
from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.backups.partitions import backup_partition_key
from hub_ops.defs.shared.home_pods import HOME_MOUNT, home_job
from hub_ops.defs.shared.resources import (
    BackupRunnerResource,
    FleetResource,
    KubeResource,
    SopsResource,
    StorageResource,
)
from hub_ops.fleet import load_fleet
from hub_ops_tests.defs.backups.conftest import add_pvc_hub, create_home_pvc, make_homes


def _play_kubelet(api: client.ApiClient, namespace: str, volume: Path, kubelet, seen: dict) -> None:
    """Wait for the backup Job, run its container as the kubelet would (volume mounted at
    HOME_MOUNT = `volume`/sub_path), then report its pod Succeeded."""
    from hub_ops_dev.stack.kube import wait_for

    batch = client.BatchV1Api(api)
    job = wait_for(lambda: next(iter(batch.list_namespaced_job(namespace).items), None), 60, "the backup Job")
    pod_spec = job.spec.template.spec
    seen["job"] = job
    [container] = pod_spec.containers
    [mount] = container.volume_mounts
    [volume_spec] = [v for v in pod_spec.volumes if v.name == mount.name]
    assert volume_spec.persistent_volume_claim.claim_name == "home-nfs"
    source = volume / (mount.sub_path or "")
    command = [
        str(Path(sys.executable).parent / c) if c == "hub-ops" else (str(source) if c == HOME_MOUNT else c)
        for c in container.command
    ]
    env = {**os.environ, **{e.name: e.value for e in container.env or []}}
    seen["run"] = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    kubelet.complete_job(job.metadata.name, namespace, succeed=seen["run"].returncode == 0)


def test_backup_of_a_pvc_home_runs_in_a_pod_of_the_hubs_namespace(
    example_fleet, tmp_path, kube_cluster, kube_api, kube_namespace, kubelet
):
    add_pvc_hub(example_fleet, kube_cluster.kubeconfig, kube_namespace, f"file://{tmp_path}/backups")
    create_home_pvc(kube_api, kube_namespace)
    volume = tmp_path / "volume"  # what the PVC holds: one folder per hub (sub_path)
    make_homes(volume / "homes")
    seen: dict = {}
    kubelet_thread = threading.Thread(target=_play_kubelet, args=(kube_api, kube_namespace, volume, kubelet, seen))
    kubelet_thread.start()
    kube = KubeResource(sops=SopsResource())
    resources = {
        "fleet": FleetResource(root=str(example_fleet)),
        "storage": StorageResource(local_root=str(tmp_path)),
        "backup_runner": BackupRunnerResource(image="hub-ops:test", pod_env={"HUB_OPS_ENV": "local"}, kube=kube),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", ["kube-test.homes"])
        result = dg.materialize(
            [user_home_backups],
            instance=instance,
            resources=resources,
            raise_on_error=False,
            partition_key=str(backup_partition_key("2026-11-01", "kube-test.homes")),
        )
    kubelet_thread.join(timeout=120)
    assert seen["run"].returncode == 0, seen["run"].stderr
    assert result.success
    job = seen["job"]
    assert job.metadata.namespace == kube_namespace and job.metadata.name.startswith("hub-ops-backup-homes-")
    mount = job.spec.template.spec.containers[0].volume_mounts[0]
    assert (mount.mount_path, mount.sub_path, mount.read_only) == (HOME_MOUNT, "homes", True)
    meta = result.asset_materializations_for_node("user_home_backups")[0].metadata
    assert meta["files"].value == 4 and meta["snapshot_id"].value in seen["run"].stdout


def test_a_failed_pod_is_reported_with_its_state_and_the_job_removed(
    example_fleet, kube_cluster, kube_api, kube_namespace, kubelet
):
    add_pvc_hub(example_fleet, kube_cluster.kubeconfig, kube_namespace, "file:///nowhere")
    hub = load_fleet(example_fleet, check_files=False).hub("kube-test/homes")
    job = home_job(hub, image="hub-ops:test", command=["hub-ops", "backup"], job_name="hub-ops-backup-fails")
    kube = KubeClient(ClusterAccess(kubeconfig_path=str(kube_cluster.kubeconfig)))

    def fail_it() -> None:
        from hub_ops_dev.stack.kube import wait_for

        batch = client.BatchV1Api(kube_api)
        wait_for(lambda: batch.list_namespaced_job(kube_namespace).items, 60, "the Job")
        try:
            kubelet.complete_job("hub-ops-backup-fails", kube_namespace, succeed=False)
        except client.ApiException as e:  # run_job saw the failure first and deleted the Job
            assert e.status == 404

    kubelet_thread = threading.Thread(target=fail_it)
    kubelet_thread.start()
    with pytest.raises(NotReady, match=r"job .*/hub-ops-backup-fails failed: .*pods: hub-ops-backup-fails-\w+: Failed"):
        kube.run_job(kube_namespace, job, timeout=60, poll=0.2)
    kubelet_thread.join(timeout=60)
    jobs = client.BatchV1Api(kube_api).list_namespaced_job(kube_namespace).items
    assert [j.metadata.name for j in jobs if not j.metadata.deletion_timestamp] == []
