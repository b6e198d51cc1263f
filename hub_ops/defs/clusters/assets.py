"""The `clusters` asset: each cluster's observed state, one table for the whole fleet.

Why one unpartitioned asset rather than one partition per cluster:
- the question it answers is fleet-wide ("which clusters are behind, unreachable, missing
  a pool?"): one materialization holds every cluster side by side, taken at one moment,
  and its checks say "2 of 30 clusters" instead of 30 separate check histories;
- observing is cheap and read-only (three GKE calls and one node list per cluster, run
  concurrently), so refreshing everything at once costs one run instead of one per cluster,
  and needs no second dynamic partition set kept in sync with the fleet;
- a failing cluster cannot fail the others: every API error becomes that cluster's
  "not reachable: ..." row, and the run still succeeds.
Per-cluster detail (versions, upgrade info, notes) is one (fact, value) table per cluster in
the materialization's metadata, beside the fleet-wide `clusters` and `node pools` tables.
Nothing is stored through an IO manager: the metadata is the product, so the asset works
the same on a laptop and in a Kubernetes Job.
"""

import datetime as dt
import importlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import dagster as dg

from hub_ops.clients import kube_observe
from hub_ops.clients.clusters import cluster_access, decrypted_key
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.clients.sops import Sops
from hub_ops.defs.clusters.checks import CHECK_SPECS, NO_API, NOT_ASKED, evaluate
from hub_ops.defs.clusters.resources import GkeResource
from hub_ops.defs.shared.metadata import latest_materialization_metadata, table
from hub_ops.defs.shared.resources import FleetResource, SopsResource
from hub_ops.fleet import Fleet
from hub_ops.fleet.models import Cluster
from hub_ops.fleet.observed import POOL_COLUMNS, ClusterState

if TYPE_CHECKING:  # hub_ops.clients.gke (google-cloud-container, grpc) loads only for gcp clusters
    from hub_ops.clients.gke import GkeClient, GkeError

MAX_PARALLEL = 8  # clusters observed at once: API calls are I/O bound
# providers read through their cloud's API with the cluster's decrypted `key`: the client module
CLOUD_CLIENTS = {"aws": "hub_ops.clients.eks", "azure": "hub_ops.clients.aks"}


class ClustersConfig(dg.Config):
    list_nodes: bool = True  # also list GKE, EKS and AKS clusters' nodes through their Kubernetes API (counts per pool)


def observe_cluster(
    cluster: Cluster, fleet: Fleet, gke: "GkeClient | GkeError | None", list_nodes: bool, sops: Sops | None = None
) -> ClusterState:
    """One cluster's state through the API its provider block names. Never raises for an
    unreachable cluster; `gke` is a client, or the error that kept us from making one.
    kubeconfig/local clusters are reached as deploys reach them (resources.clusters), a
    sops-encrypted kubeconfig decrypted in memory with `sops`."""
    if cluster.provider == "gcp":
        assert gke is not None, "a GkeClient or GkeError is needed for gcp clusters"
        from hub_ops.clients.gke import GkeError

        if isinstance(gke, GkeError):
            return ClusterState.unreachable(cluster, "GKE API", str(gke))
        return gke.observe(cluster, list_nodes=list_nodes)
    if cluster.provider in ("local", "kubeconfig"):
        if cluster.provider == "local" and not cluster.local.kubeconfig:
            return ClusterState.unreachable(cluster, NOT_ASKED, NO_API)
        try:
            access = cluster_access(fleet, cluster, sops or Sops())
        except ClusterUnreachable as e:
            return ClusterState.unreachable(cluster, "Kubernetes API", str(e).removeprefix(f"cluster {cluster.name}: "))
        return kube_observe.observe(cluster, access)
    if cluster.provider in CLOUD_CLIENTS:
        # boto3 / the Azure SDK load only for fleets with clusters of that provider
        client = importlib.import_module(CLOUD_CLIENTS[cluster.provider])
        try:
            key = decrypted_key(fleet, cluster, cluster.provider, sops or Sops())
        except ClusterUnreachable as e:
            return ClusterState.unreachable(cluster, client.SOURCE, str(e).removeprefix(f"cluster {cluster.name}: "))
        return client.observe(cluster, key, list_nodes=list_nodes)
    return ClusterState.unreachable(cluster, NOT_ASKED, f"provider {cluster.provider} is not observed by hub_ops")


def cluster_facts(state: ClusterState) -> list[dict]:
    """The per-cluster facts as (fact, value) rows; its pools are rows of the `node pools` table."""
    facts: dict[str, object] = {
        "provider": state.provider,
        "observed via": state.source,
        "observed at (UTC)": f"{state.observed_at:%Y-%m-%d %H:%M}",
    }
    if not state.reachable:
        return [{"fact": k, "value": str(v)} for k, v in (facts | {"not reachable": state.reason}).items()]
    facts |= {
        "status": state.status,
        "control plane": state.master_version,
        "platform version": state.platform_version,
        "nodes run": ", ".join(state.node_versions),
        "release channel": state.release_channel,
        "nodes": state.node_count,
    }
    if state.upgrade:
        up = state.upgrade
        facts |= {
            "upgrade targets": f"minor {up.minor_target_version or '-'}, patch {up.patch_target_version or '-'}",
            "auto-upgrade": ", ".join(up.auto_upgrade_status) or "-",
            "end of standard support": up.end_of_standard_support,
            "end of extended support": up.end_of_extended_support,
        }
        if up.support_warning:
            facts["support"] = up.support_warning
    rows = [{"fact": k, "value": "-" if v in (None, "") else str(v)} for k, v in facts.items()]
    return rows + [{"fact": "note", "value": note} for note in state.notes]


def pool_rows(states: list[ClusterState]) -> list[dict]:
    return [{"cluster": s.cluster, **row} for s in states for row in s.pool_rows()]


@dg.asset(
    description="Observed state of every cluster of the fleet (GKE API, EKS API, AKS API, or the Kubernetes API for "
    "kubeconfig/local clusters): status, versions, release channel, node pools. Checks compare it "
    "with cluster.yaml and fleet.yaml's kubernetes policy.",
    kinds={"kubernetes", "gcp"},
    group_name="clusters",
    check_specs=CHECK_SPECS,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=20, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
)
def clusters(
    context: dg.AssetExecutionContext,
    config: ClustersConfig,
    fleet: FleetResource,
    gke: GkeResource,
    sops: SopsResource,
) -> dg.MaterializeResult:
    loaded = fleet.load()
    gke_client = None  # a GkeClient, or the GkeError that kept us from making one
    if any(c.provider == "gcp" for c in loaded.clusters.values()):
        from hub_ops.clients.gke import GkeError

        try:
            gke_client = gke.client()
        except GkeError as e:  # no credentials: each gcp cluster says so in its row
            gke_client = e

    def one(cluster: Cluster) -> ClusterState:
        state = observe_cluster(cluster, loaded, gke_client, config.list_nodes, sops.client())
        context.log.info(
            f"{cluster.name}: "
            + (
                f"{state.status or 'answered'}, control plane {state.master_version}"
                if state.reachable
                else f"not reachable: {state.reason}"
            )
        )
        return state

    with ThreadPoolExecutor(max_workers=MAX_PARALLEL) as pool:
        states = list(pool.map(one, loaded.clusters.values()))

    metadata: dict = {
        "clusters": table([s.summary_row() for s in states]),
        "node pools": table(pool_rows(states), ["cluster", *POOL_COLUMNS]),
        "reachable": dg.MetadataValue.int(sum(s.reachable for s in states)),
        "total": dg.MetadataValue.int(len(states)),
        # read back by observed_control_plane_versions and observed_node_pools (below)
        "control_plane_versions": dg.MetadataValue.json(
            {s.cluster: s.master_version for s in states if s.master_version}
        ),
        "node_pools": dg.MetadataValue.json(
            {s.cluster: [p.name for p in s.node_pools] for s in states if s.node_pools}
        ),
    }
    for state in states:
        metadata[f"cluster {state.cluster}"] = table(cluster_facts(state), ["fact", "value"])
    return dg.MaterializeResult(
        metadata=metadata, check_results=evaluate(states, loaded, dt.datetime.now(dt.UTC).date())
    )


def observed_control_plane_versions(instance: dg.DagsterInstance) -> dict[str, str]:
    """{cluster: control-plane version} from the latest `clusters` materialization (empty if
    none): deploy_job's dry runs validate manifests for the version each cluster runs."""
    meta = latest_materialization_metadata(instance, dg.AssetKey("clusters")) or {}
    return dict(meta.get("control_plane_versions") or {})


def observed_node_pools(instance: dg.DagsterInstance) -> dict[str, list[str]]:
    """{cluster: node pool names} from the latest `clusters` materialization: what is left on
    a cluster once its last hub is retired."""
    meta = latest_materialization_metadata(instance, dg.AssetKey("clusters")) or {}
    return {cluster: list(pools) for cluster, pools in (meta.get("node_pools") or {}).items()}
