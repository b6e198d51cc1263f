"""The local kube-apiserver is a real one: real objects, real errors, real controllers."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
import uuid

import pytest
from kubernetes import client

from hub_ops_dev.stack.kube import wait_for


def _meta(name: str, **labels: str) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(name=name, labels=labels or None)


def test_namespace_create_read_patch_delete_is_finished_by_the_controller_manager(kube_api):
    core = client.CoreV1Api(kube_api)
    name = f"ns-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=_meta(name, team="hub-ops")))
    core.create_namespaced_secret(name, client.V1Secret(metadata=_meta("leftover"), string_data={"k": "v"}))

    assert core.read_namespace(name).metadata.labels["team"] == "hub-ops"
    patched = core.patch_namespace(name, {"metadata": {"labels": {"tier": "test"}}})
    assert (patched.metadata.labels["team"], patched.metadata.labels["tier"]) == ("hub-ops", "test")

    core.delete_namespace(name)
    assert core.read_namespace(name).status.phase == "Terminating"

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    # only the namespace controller empties the namespace and removes its finalizer
    wait_for(gone, timeout=90, what=f"namespace {name} to be deleted")


def test_secret_crud_and_409_on_stale_resource_version(kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    created = core.create_namespaced_secret(
        kube_namespace, client.V1Secret(metadata=_meta("hub"), string_data={"token": "one"})
    )
    stale_version = created.metadata.resource_version

    assert core.read_namespaced_secret("hub", kube_namespace).data == {"token": "b25l"}  # base64("one")
    patched = core.patch_namespaced_secret("hub", kube_namespace, {"stringData": {"token": "two"}})
    assert patched.data == {"token": "dHdv"}
    assert patched.metadata.resource_version != stale_version

    stale = client.V1Secret(
        metadata=client.V1ObjectMeta(name="hub", resource_version=stale_version), string_data={"token": "three"}
    )
    with pytest.raises(client.ApiException) as conflict:
        core.replace_namespaced_secret("hub", kube_namespace, stale)
    assert conflict.value.status == 409

    with pytest.raises(client.ApiException) as exists:
        core.create_namespaced_secret(kube_namespace, client.V1Secret(metadata=_meta("hub")))
    assert exists.value.status == 409

    core.delete_namespaced_secret("hub", kube_namespace)
    with pytest.raises(client.ApiException) as missing:
        core.read_namespaced_secret("hub", kube_namespace)
    assert missing.value.status == 404


def test_invalid_object_is_rejected_with_422(kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    with pytest.raises(client.ApiException) as invalid:
        core.create_namespaced_config_map(kube_namespace, client.V1ConfigMap(metadata=_meta("Not_A_Valid_Name")))
    assert invalid.value.status == 422


def _job(name: str, backoff_limit: int = 0) -> client.V1Job:
    container = client.V1Container(name="main", image="busybox", command=["true"])
    return client.V1Job(
        metadata=_meta(name),
        spec=client.V1JobSpec(
            backoff_limit=backoff_limit,
            template=client.V1PodTemplateSpec(spec=client.V1PodSpec(containers=[container], restart_policy="Never")),
        ),
    )


def test_job_create_read_patch_delete_and_completion(kube_api, kube_namespace, kubelet):
    batch = client.BatchV1Api(kube_api)
    batch.create_namespaced_job(kube_namespace, _job("backup"))
    patched = batch.patch_namespaced_job("backup", kube_namespace, {"metadata": {"labels": {"hub": "staging"}}})
    assert patched.metadata.labels["hub"] == "staging"

    # the Job controller creates the pod; nothing runs it until the kubelet stand-in reports it
    pods = wait_for(
        lambda: client.CoreV1Api(kube_api).list_namespaced_pod(kube_namespace).items, timeout=30, what="the Job's pod"
    )
    assert pods[0].status.phase == "Pending"

    job = kubelet.complete_job("backup", kube_namespace)
    assert job.status.succeeded == 1

    batch.delete_namespaced_job("backup", kube_namespace, propagation_policy="Foreground")
    wait_for(lambda: not batch.list_namespaced_job(kube_namespace).items, timeout=30, what="the Job to go")


def test_failed_job_is_reported_failed(kube_api, kube_namespace, kubelet):
    client.BatchV1Api(kube_api).create_namespaced_job(kube_namespace, _job("restore"))
    job = kubelet.complete_job("restore", kube_namespace, succeed=False)
    assert job.status.failed == 1
    assert job.status.succeeded is None


def test_deployment_becomes_available_through_the_controllers(kube_api, kube_namespace, kubelet):
    apps = client.AppsV1Api(kube_api)
    labels = {"component": "hub"}
    apps.create_namespaced_deployment(
        kube_namespace,
        client.V1Deployment(
            metadata=_meta("hub"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="hub", image="jupyterhub")]),
                ),
            ),
        ),
    )
    assert not apps.read_namespaced_deployment("hub", kube_namespace).status.available_replicas

    deployment = kubelet.make_deployment_available("hub", kube_namespace)
    assert deployment.status.available_replicas == 2
    assert deployment.status.ready_replicas == 2


def test_a_wrong_token_is_refused(kube_cluster):
    context = ssl.create_default_context(cafile=str(kube_cluster.pki / "ca.crt"))
    request = urllib.request.Request(
        f"{kube_cluster.server_url}/api/v1/namespaces", headers={"Authorization": "Bearer not-the-token"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=context, timeout=5)
    assert refused.value.code == 401


def test_new_namespaces_get_a_service_account_token_signed_by_the_cluster_key(kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)

    def token_secret():
        secrets = core.list_namespaced_secret(kube_namespace, field_selector="type=kubernetes.io/service-account-token")
        return secrets.items[0] if secrets.items else None

    secret = wait_for(token_secret, timeout=30, what="the default service account's token")
    assert secret.metadata.annotations["kubernetes.io/service-account.name"] == "default"
    assert set(secret.data) >= {"token", "ca.crt", "namespace"}


def test_a_cluster_that_cannot_start_raises_with_its_log_and_leaves_nothing_running(tmp_path):
    import socket

    from hub_ops_dev.stack.kube import KubeCluster
    from hub_ops_dev.stack.process import StackError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        cluster = KubeCluster(tmp_path / "kube", api_port=taken.getsockname()[1])
        with pytest.raises(StackError, match=r"(?s)kube-apiserver exited.*kube-apiserver\.log.*address already in use"):
            cluster.start()
    assert [p.name for p in cluster.processes if p.running] == []
