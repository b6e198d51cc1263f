"""The activity gate against the local JupyterHub and kube-apiserver."""

from kubernetes import client

from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.kube import ClusterAccess, KubeClient
from hub_ops.decommission.gates import check_no_servers


def test_a_running_server_closes_the_gate_and_stopping_it_opens_it(jupyterhub_server, kube_cluster, kube_namespace):
    api = HubApi(jupyterhub_server.api_url, jupyterhub_server.api_token)
    kube = KubeClient(ClusterAccess(kubeconfig_path=str(kube_cluster.kubeconfig)))
    api.ensure_user("gate-user")
    api.start_server("gate-user", timeout=60)
    try:
        gate = check_no_servers(api, kube, kube_namespace)
        assert not gate.passed and gate.servers == ["gate-user (JupyterHub API)"]
        assert gate.describe() == "1 user server(s) running: gate-user (JupyterHub API)"
    finally:
        api.stop_server("gate-user")
    gate = check_no_servers(api, kube, kube_namespace)
    assert gate.passed and gate.checked == ["JupyterHub API", f"singleuser pods in {kube_namespace}"]


def test_a_singleuser_pod_closes_the_gate(kube_cluster, kube_namespace, kubelet):
    kube = KubeClient(ClusterAccess(kubeconfig_path=str(kube_cluster.kubeconfig)))
    core = client.CoreV1Api(kube_cluster.api_client())
    core.create_namespaced_pod(
        kube_namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="jupyter-alice", labels={"component": "singleuser-server"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="notebook", image="x")]),
        ),
    )
    kubelet.mark_pod("jupyter-alice", kube_namespace, "Running")
    gate = check_no_servers(None, kube, kube_namespace)
    assert not gate.passed and gate.servers == ["pod jupyter-alice"]


def test_an_unanswerable_hub_is_not_proof_of_an_idle_one():
    api = HubApi("http://127.0.0.1:9/hub/api", "token", timeout=1)
    gate = check_no_servers(api, None, "ns")
    assert not gate.passed and gate.servers == [] and gate.checked == []
    assert gate.describe().startswith(
        "could not check for running servers: JupyterHub API: GET http://127.0.0.1:9/hub/api/users: no answer"
    )


def test_pods_alone_do_not_open_the_gate_when_the_hub_api_cannot_be_asked(kube_cluster, kube_namespace):
    """The pod listing answers (no singleuser pod), the hub's API does not: not proof of an
    idle hub (servers may run where pods are not labelled, or on another namespace)."""
    kube = KubeClient(ClusterAccess(kubeconfig_path=str(kube_cluster.kubeconfig)))
    api = HubApi("http://127.0.0.1:9/hub/api", "token", timeout=1)
    gate = check_no_servers(api, kube, kube_namespace)
    assert gate.checked == [f"singleuser pods in {kube_namespace}"]
    assert not gate.passed
    assert gate.describe().startswith("could not check for running servers: JupyterHub API: GET ")


def test_the_hub_api_alone_does_not_open_the_gate_when_pods_cannot_be_listed(jupyterhub_server):
    api = HubApi(jupyterhub_server.api_url, jupyterhub_server.api_token)
    gate = check_no_servers(api, None, "ns", {"pods": "no credentials for cluster alpha"})
    assert gate.checked == ["JupyterHub API"] and not gate.passed
    assert gate.describe() == (
        "could not check for running servers: singleuser pods in ns: not asked (no credentials for cluster alpha)"
    )


def test_a_refused_pod_listing_closes_the_gate_with_the_reason(jupyterhub_server, kube_cluster, kube_namespace):
    """An API server that answers 401 (a token no longer accepted) is a source that could not be asked."""
    good = KubeClient(ClusterAccess(kubeconfig_path=str(kube_cluster.kubeconfig)))
    access = ClusterAccess(server=good.api.configuration.host, token="not-a-valid-token", insecure=True)
    api = HubApi(jupyterhub_server.api_url, jupyterhub_server.api_token)
    gate = check_no_servers(api, KubeClient(access), kube_namespace)
    assert not gate.passed and gate.checked == ["JupyterHub API"]
    assert f"singleuser pods in {kube_namespace}: 401" in gate.describe()
