"""kube_observe against the local kube-apiserver 1.20 (real API, real TLS and token auth);
nodes are registered as a kubelet would (hub_ops_tests/kube_nodes.py)."""

import datetime as dt

import yaml

from hub_ops.clients import kube_observe
from hub_ops.clients.kube import ClusterAccess
from hub_ops.fleet.models import Cluster, KubernetesPolicy
from hub_ops.fleet.observed import support_warnings, version_skew_problems
from hub_ops_dev.stack.process import free_port


def local_cluster(kubeconfig: str | None, context: str | None = None) -> Cluster:
    return Cluster(name="lab", provider="local", local={"kubeconfig": kubeconfig, "context": context})


def test_observe_reports_version_nodes_and_pools(kube_cluster, kube_nodes):
    core = kube_nodes.pool("core")
    users = kube_nodes.pool("users")
    kube_nodes.add("core-1", "v1.20.2", pool=core)
    kube_nodes.add("user-1", "v1.20.2", pool=users, instance_type="n2-highmem-4")
    kube_nodes.add("user-2", "v1.17.4", pool=users, ready=False, instance_type="n2-highmem-4")

    state = kube_observe.observe(
        local_cluster(str(kube_cluster.kubeconfig)), ClusterAccess(kubeconfig_path=str(kube_cluster.kubeconfig))
    )

    assert state.reachable and state.source == "Kubernetes API"
    assert state.master_version.startswith("v1.20.")
    mine = {p.name: p for p in state.node_pools if p.name in (core, users)}
    assert (mine[core].node_count, mine[core].version, mine[core].status) == (1, "v1.20.2", "1/1 ready")
    assert (mine[users].node_count, mine[users].version, mine[users].status, mine[users].machine_type) == (
        2,
        "v1.17.4, v1.20.2",
        "1/2 ready",
        "n2-highmem-4",
    )
    assert any(n.endswith("nodes not ready") for n in state.notes)

    policy = KubernetesPolicy(max_minor_skew=2, min_minor=30)
    assert "nodes on v1.17.4 trail the control plane" in " ".join(version_skew_problems(state, policy))
    warnings = support_warnings(state, policy, dt.date(2026, 11, 26))
    assert f"control plane {state.master_version} is older than the fleet's minimum 1.30 (end of support)" in warnings


def test_a_named_context_that_does_not_exist_is_not_reachable(kube_cluster):
    state = kube_observe.observe(
        local_cluster(str(kube_cluster.kubeconfig), "nope"),
        ClusterAccess(kubeconfig_path=str(kube_cluster.kubeconfig), context="nope"),
    )
    assert not state.reachable and "context 'nope' unusable" in state.reason


def test_api_down_and_bad_token_are_reasons_without_the_token(kube_cluster, tmp_path):
    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
    down = tmp_path / "down.yaml"
    down.write_text(yaml.safe_dump(config))
    state = kube_observe.observe(local_cluster(str(down)), ClusterAccess(kubeconfig_path=str(down)))
    assert not state.reachable and state.reason.startswith("Kubernetes API not reachable:")

    config = yaml.safe_load(kube_cluster.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    state = kube_observe.observe(local_cluster(str(bad)), ClusterAccess(kubeconfig_path=str(bad)))
    assert (state.reachable, state.reason) == (False, "Kubernetes API 401 Unauthorized")
    assert kube_cluster.token not in repr(state)
