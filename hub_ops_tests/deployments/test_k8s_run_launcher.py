"""K8sRunLauncher, configured as deployments/hub-ops/dagster.yaml configures it, launches a
hub_ops run as a Kubernetes Job on the local kube-apiserver 1.20; the test plays the kubelet
to complete the pod, and the launcher's health check (what run monitoring polls) sees it.

The run is created as the product creates one: restore_homes_job for a hub partition, with
the partition's tags (`hub_ops/hub`, which the run queue limits to one run per hub). The run
pod mounts no home volume: a hub's homes are in its own namespace, usually on another
cluster, so backups and restores mount them in a Job of that namespace
(hub_ops/defs/shared/home_pods.py, tested in hub_ops_tests/defs/backups/test_pods*.py).
"""

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
PARTITION = "pangeo-hubs.staging"


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


def create_run(instance, job_name: str, tags: dict, run_config: dict | None = None) -> dg.DagsterRun:
    job = defs().resolve_job_def(job_name)
    origin = (
        ReconstructableRepository.for_module("hub_ops.definitions", "defs", working_directory=str(REPO))
        .get_reconstructable_job(job_name)
        .get_python_origin()
    )
    return instance.create_run_for_job(job_def=job, job_code_origin=origin, tags=tags, run_config=run_config)


def test_a_restore_run_launches_as_a_job_with_its_hub_tag_and_completes(instance, kube_api, kube_namespace, kubelet):
    job = defs().resolve_job_def("restore_homes_job")
    instance.add_dynamic_partitions("hubs", [PARTITION])
    tags = {**job.tags, **job.partitioned_config.get_tags_for_partition_key(PARTITION, job.name)}
    run = create_run(
        instance,
        "restore_homes_job",
        tags,
        {"ops": {"restore_homes": {"config": {"users": ["ada"]}}}},
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
    (container,) = pod.containers
    assert container.image == "hub-ops:test"
    # the run launched carries its hub's tag (the queue's one-run-per-hub limit) and partition
    launched = instance.get_run_by_id(run.run_id)
    assert launched.tags["hub_ops/hub"] == "pangeo-hubs/staging" and launched.tags["dagster/partition"] == PARTITION
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
    run = create_run(instance, "clusters_refresh_job", {"hub_ops/kind": "clusters"})
    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    kubelet.complete_job(get_job_name_from_run_id(run.run_id), kube_namespace, succeed=False)
    health = instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run.run_id))
    assert health.status == WorkerStatus.FAILED
