"""Read-only look at a Kubernetes cluster through the official `kubernetes` client:
the API server's version and the nodes. Used by the clusters asset for kubeconfig/local
clusters and, with a Configuration from hub_ops.clients.gke, for GKE's node counts.

Never writes to the cluster. Deploys (hub_ops.clients.kube) build their own clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub_ops.clients.kube import ClusterAccess
from hub_ops.fleet.models import Cluster
from hub_ops.fleet.observed import POOL_LABELS, ClusterState, NodeState, pools_from_nodes

if TYPE_CHECKING:  # importing kubernetes costs seconds: the definitions load without it
    from kubernetes import client as k8s

# (connect, read) seconds: an unreachable API must not hold up a fleet-wide refresh
DEFAULT_TIMEOUT = (5.0, 20.0)


def server_version(api: k8s.ApiClient, timeout=DEFAULT_TIMEOUT) -> str:
    """The API server's git version, e.g. "v1.30.5-gke.1014001"."""
    from kubernetes import client as k8s

    return k8s.VersionApi(api).get_code(_request_timeout=timeout).git_version


def list_nodes(api: k8s.ApiClient, timeout=DEFAULT_TIMEOUT) -> list[NodeState]:
    """Every node with its kubelet version, readiness, pool (from the provider's pool
    label, if any) and instance type, sorted by name."""
    from kubernetes import client as k8s

    nodes = []
    for node in k8s.CoreV1Api(api).list_node(_request_timeout=timeout).items:
        labels = node.metadata.labels or {}
        status = node.status
        conditions = (status.conditions or []) if status else []
        ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
        info = status.node_info if status else None
        nodes.append(
            NodeState(
                name=node.metadata.name,
                kubelet_version=info.kubelet_version if info else "unknown",
                ready=ready,
                pool=next((labels[key] for key in POOL_LABELS if labels.get(key)), None),
                instance_type=labels.get("node.kubernetes.io/instance-type")
                or labels.get("beta.kubernetes.io/instance-type"),
            )
        )
    return sorted(nodes, key=lambda n: n.name)


def list_nodes_or_note(make_api, endpoint: str | None, notes: list[str]) -> list[NodeState] | None:
    """The nodes through `make_api()` (an ApiClient), or None with a note in `notes` saying
    why not: a provider's own data (GKE, EKS) still stands when its private endpoint is out of reach."""
    try:
        with make_api() as api:
            return list_nodes(api)
    except Exception as e:  # noqa: BLE001 - e.g. a private endpoint
        notes.append(f"nodes not listed (Kubernetes API at {endpoint}): {type(e).__name__}")
        return None


def observe(cluster: Cluster, access: ClusterAccess) -> ClusterState:
    """The state of a kubeconfig/local cluster reached through `access` (as deploys reach it,
    see hub_ops.clients.clusters): API server version and nodes, pools grouped from node
    labels. Never raises for an API error: comes back reachable=False and why."""
    from kubernetes import config as k8s_config

    source = "Kubernetes API"
    try:
        api = access.api_client()
    except (k8s_config.ConfigException, ValueError, KeyError, TypeError, OSError) as e:
        where = access.kubeconfig_path or access.server
        context = f" context {access.context!r}" if access.context else ""
        return ClusterState.unreachable(cluster, source, f"kubeconfig {where}{context} unusable: {e}")
    try:
        with api:
            version = server_version(api)
            nodes = list_nodes(api)
    except Exception as e:  # noqa: BLE001 - connection refused, TLS, 401...: "not reachable", said plainly
        return ClusterState.unreachable(cluster, source, _describe(e))
    return ClusterState(
        cluster=cluster.name,
        provider=cluster.provider,
        source=source,
        reachable=True,
        master_version=version,
        node_pools=pools_from_nodes(nodes),
        nodes=nodes,
        node_count=len(nodes),
        notes=[f"{sum(not n.ready for n in nodes)} of {len(nodes)} nodes not ready"]
        if any(not n.ready for n in nodes)
        else [],
    )


def _describe(error: Exception) -> str:
    from kubernetes import client as k8s

    if isinstance(error, k8s.ApiException):
        return f"Kubernetes API {error.status} {error.reason}"
    return f"Kubernetes API not reachable: {type(error).__name__}: {str(error)[:200]}"
