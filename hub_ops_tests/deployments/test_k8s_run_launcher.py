"""K8sRunLauncher, configured as deployments/hub-ops/dagster.yaml configures it, launches a
hub_ops run as a Kubernetes Job on the local kube-apiserver 1.20; the test plays the kubelet
to complete the pod, and the launcher's health check (what run monitoring polls) sees it.

The run carries a per-hub home volume in its `dagster-k8s/config` tag. The backups domain
builds that tag from a hub's `home` block; it had not landed on main when this test was
written, so HUB_HOME_TAG below is a representative one for a hub with `home: {pvc:
home-nfs, sub_path: staging}` (a PVC in the run's namespace, mounted read-only at the
folder holding the user folders).
"""

import json

import dagster as dg
import pytest
import yaml
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.launcher import LaunchRunContext, WorkerStatus
from dagster_k8s.job import get_job_name_from_run_id
from kubernetes import client

from hub_ops.definitions import defs
from hub_ops_tests.conftest import REPO

PRODUCTION = REPO / "deployments" / "hub-ops" / "dagster.yaml"
HUB_HOME_TAG = {
    "pod_spec_config": {
        "volumes": [{"name": "hub-home", "persistent_volume_claim": {"claim_name": "home-nfs", "read_only": True}}],
    },
    "container_config": {
        "volume_mounts": [{"name": "hub-home", "mount_path": "/hub-home", "sub_path": "staging", "read_only": True}],
    },
}


@pytest.fixture
def instance(kube_cluster, kube_namespace):
    config = yaml.safe_load(PRODUCTION.read_text())["run_launcher"]
    # production's launcher config, pointed at the test cluster instead of the in-cluster one
    config["config"].update(
        load_incluster_config=False,
        kubeconfig_file=str(kube_cluster.kubeconfig),
        job_namespace=kube_namespace,
        job_image="hub-ops:test",
    )
    with dg.instance_for_test(overrides={"run_launcher": config}) as instance:
        yield instance


def create_run(instance, tags: dict) -> dg.DagsterRun:
    job = defs().resolve_job_def("clusters_refresh_job")
    origin = (
        ReconstructableRepository.for_module("hub_ops.definitions", "defs", working_directory=str(REPO))
        .get_reconstructable_job("clusters_refresh_job")
        .get_python_origin()
    )
    return instance.create_run_for_job(job_def=job, job_code_origin=origin, tags=tags)


def test_run_launches_as_a_job_with_the_hub_volume_and_completes(instance, kube_api, kube_namespace, kubelet):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_persistent_volume_claim(
        kube_namespace,
        client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="home-nfs"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteMany"],
                storage_class_name="",
                resources=client.V1ResourceRequirements(requests={"storage": "1Gi"}),
            ),
        ),
    )
    run = create_run(
        instance,
        {
            "dagster-k8s/config": json.dumps(HUB_HOME_TAG),
            "hub_ops/hub": "pangeo-hubs.staging",
            "hub_ops/kind": "backup",
        },
    )

    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))

    name = get_job_name_from_run_id(run.run_id)
    job = client.BatchV1Api(kube_api).read_namespaced_job(name, kube_namespace)
    assert job.metadata.labels["dagster/run-id"] == run.run_id
    # production's job_spec_config reaches the Job: backoff_limit shows it on the API object;
    # ttlSecondsAfterFinished goes with it, but apiserver 1.20 drops that field (alpha feature
    # gate TTLAfterFinished, off), so it is checked in the launcher's resolved run config
    assert job.spec.backoff_limit == 0
    resolved = instance.run_launcher.get_container_context_for_run(run).run_k8s_config.job_spec_config
    assert resolved == {"ttl_seconds_after_finished": 3600, "backoff_limit": 0}
    pod = job.spec.template.spec
    assert pod.service_account_name == "hub-ops"
    volume = next(v for v in pod.volumes if v.name == "hub-home")
    assert (volume.persistent_volume_claim.claim_name, volume.persistent_volume_claim.read_only) == ("home-nfs", True)
    (container,) = pod.containers
    assert container.image == "hub-ops:test"
    mount = next(m for m in container.volume_mounts if m.name == "hub-home")
    assert (mount.mount_path, mount.sub_path, mount.read_only) == ("/hub-home", "staging", True)
    env = {e.name: e.value for e in container.env}
    assert env["HUB_OPS_ENV"] == "production"
    assert [source.secret_ref.name for source in container.env_from if source.secret_ref] == ["hub-ops-secrets"]
    assert "execute_run" in " ".join(container.args)
    assert container.resources.limits["memory"] == "4Gi"

    # the Job controller makes the pod; the kubelet stand-in finishes it; the controller completes the Job
    kubelet.complete_job(name, kube_namespace)
    health = instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run.run_id))
    assert health.status == WorkerStatus.SUCCESS


def test_a_failed_run_pod_is_reported_failed(instance, kube_api, kube_namespace, kubelet):
    run = create_run(instance, {"hub_ops/hub": "pangeo-hubs.prod"})
    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    kubelet.complete_job(get_job_name_from_run_id(run.run_id), kube_namespace, succeed=False)
    health = instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run.run_id))
    assert health.status == WorkerStatus.FAILED
