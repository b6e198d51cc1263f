"""What a cluster's API reports (observed state), and how it compares with the fleet.

Plain data and pure functions: hub_ops.clients.gke / eks / aks / kube_observe fill a ClusterState,
hub_ops.defs.clusters turns the comparisons below into asset checks, and nothing here
talks to a cluster. The desired side is the fleet config (a Cluster's `node_pools`) and
fleet.yaml's `kubernetes` policy (KubernetesPolicy).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from hub_ops.fleet.models import Cluster, KubernetesPolicy

# labels that name a node's pool, by provider (GKE, EKS managed and eksctl, Karpenter, AKS)
POOL_LABELS = (
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "alpha.eksctl.io/nodegroup-name",
    "karpenter.sh/nodepool",
    "kubernetes.azure.com/agentpool",
    "agentpool",
)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-gke\.(\d+))?")


def parse_version(version: str | None) -> tuple[int, int, int, int] | None:
    """(major, minor, patch, gke build) of "1.30.5-gke.1014001" or "v1.20.2"; None if unparsable."""
    match = _VERSION.match(version or "")
    if not match:
        return None
    major, minor, patch, build = match.groups()
    return int(major), int(minor), int(patch or 0), int(build or 0)


def minor_of(version: str | None) -> tuple[int, int] | None:
    parsed = parse_version(version)
    return parsed[:2] if parsed else None


def _minor_text(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


@dataclass
class NodeState:
    """One Kubernetes Node."""

    name: str
    kubelet_version: str
    ready: bool
    pool: str | None = None  # from the first of POOL_LABELS the node carries
    instance_type: str | None = None


@dataclass
class NodePoolState:
    """A node pool: from the GKE API, or grouped from node labels."""

    name: str
    version: str | None = None
    status: str | None = None
    machine_type: str | None = None
    autoscaling: bool | None = None
    min_nodes: int | None = None  # per zone, as GKE counts
    max_nodes: int | None = None
    node_count: int | None = None  # nodes seen in the Kubernetes API; None when not listed
    mode: str | None = None  # AKS: System (runs system pods) or User


@dataclass
class UpgradeState:
    """A cluster's upgrade and support view: GKE's fetchClusterUpgradeInfo, EKS's version
    dates, AKS's upgrade profile and supported minors."""

    minor_target_version: str | None = None
    patch_target_version: str | None = None
    auto_upgrade_status: list[str] = field(default_factory=list)
    paused_reason: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # "1.29.8 -> 1.30.5 (AUTOMATIC)"
    end_of_standard_support: dt.date | None = None
    end_of_extended_support: dt.date | None = None
    support_warning: str | None = None  # a provider without dates says it in words (AKS: aks_support)


POOL_COLUMNS = ["pool", "machine type", "version", "status", "autoscaling", "min..max per zone", "nodes", "mode"]


@dataclass
class ClusterState:
    """A cluster as its API reported it at `observed_at`.

    `reachable` False means nothing below `reason` was observed; `notes` list partial
    observations (e.g. the GKE API answered but the Kubernetes API did not).
    """

    cluster: str
    provider: str
    source: str  # "GKE API", "Kubernetes API", or "-" when nothing was asked
    reachable: bool
    reason: str = ""
    status: str | None = None
    status_message: str | None = None
    master_version: str | None = None
    platform_version: str | None = None  # EKS's eks.N
    release_channel: str | None = None
    node_pools: list[NodePoolState] = field(default_factory=list)
    nodes: list[NodeState] | None = None  # None: the Kubernetes API was not listed
    node_count: int | None = None
    upgrade: UpgradeState | None = None
    notes: list[str] = field(default_factory=list)
    observed_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def unreachable(cls, cluster: Cluster, source: str, reason: str) -> ClusterState:
        return cls(cluster=cluster.name, provider=cluster.provider, source=source, reachable=False, reason=reason)

    @property
    def node_versions(self) -> list[str]:
        """Distinct versions the nodes run: node pool versions (GKE), else kubelet versions."""
        versions = [p.version for p in self.node_pools if p.version]
        if not versions and self.nodes:
            versions = [n.kubelet_version for n in self.nodes]
        return sorted(set(versions), key=lambda v: parse_version(v) or (0, 0, 0, 0))

    def summary_row(self) -> dict:
        """One row of the clusters table; numbers stay numbers (None when not observed)."""
        up = self.upgrade
        return {
            "cluster": self.cluster,
            "provider": self.provider,
            "reachable": self.reachable,
            "status": self.status or ("" if self.reachable else f"not reachable: {self.reason}"),
            "control plane": self.master_version or "",
            "nodes run": ", ".join(self.node_versions),
            "channel": self.release_channel or "",
            "pools": len(self.node_pools) if self.reachable else None,
            "nodes": self.node_count,
            "end of standard support": str(up.end_of_standard_support or "") if up else "",
            "notes": "; ".join(self.notes),
        }

    def pool_rows(self) -> list[dict]:
        def bound(v: int | None) -> str:
            return "-" if v is None else str(v)

        return [
            {
                "pool": p.name,
                "machine type": p.machine_type or "-",
                "version": p.version or "-",
                "status": p.status or "-",
                "autoscaling": ("on" if p.autoscaling else "off") if p.autoscaling is not None else "-",
                "min..max per zone": f"{bound(p.min_nodes)}..{bound(p.max_nodes)}" if p.autoscaling else "-",
                "nodes": bound(p.node_count),
                "mode": p.mode or "-",
            }
            for p in self.node_pools
        ]


def nodes_per_pool(nodes: list[NodeState] | None) -> dict[str, int]:
    """How many of `nodes` each pool (by the nodes' pool label) has."""
    counts: dict[str, int] = {}
    for node in nodes or []:
        if node.pool:
            counts[node.pool] = counts.get(node.pool, 0) + 1
    return counts


def pools_from_nodes(nodes: list[NodeState]) -> list[NodePoolState]:
    """Node pools as the nodes' pool labels group them (kubeconfig/local clusters)."""
    pools: dict[str, list[NodeState]] = {}
    for node in nodes:
        if node.pool:
            pools.setdefault(node.pool, []).append(node)
    result = []
    for name in sorted(pools):
        members = pools[name]
        versions = sorted({n.kubelet_version for n in members})
        types = sorted({n.instance_type for n in members if n.instance_type})
        result.append(
            NodePoolState(
                name=name,
                version=", ".join(versions),
                machine_type=", ".join(types) or None,
                status=f"{sum(n.ready for n in members)}/{len(members)} ready",
                node_count=len(members),
            )
        )
    return result


# ------------------------------------------------------------------ comparisons


def version_skew_problems(state: ClusterState, policy: KubernetesPolicy) -> list[str]:
    """Why the node versions are not within the fleet's allowed skew of the control plane
    (nodes may trail it by at most `max_minor_skew` minors and never be newer); [] when fine
    or when the cluster was not observed."""
    if not state.reachable:
        return []
    master = minor_of(state.master_version)
    if master is None:
        return [f"control plane version unknown ({state.master_version!r})"]
    problems = []
    for version in state.node_versions:
        for one in version.split(", "):
            node = minor_of(one)
            if node is None:
                problems.append(f"node version unparsable: {one!r}")
            elif node > master:
                problems.append(f"nodes on {one} are newer than the control plane {state.master_version}")
            elif master[0] == node[0] and master[1] - node[1] > policy.max_minor_skew:
                problems.append(
                    f"nodes on {one} trail the control plane {state.master_version} by "
                    f"{master[1] - node[1]} minor versions (fleet allows {policy.max_minor_skew})"
                )
    return problems


def missing_node_pools(state: ClusterState, cluster: Cluster) -> list[str]:
    """Pools the cluster's config declares (`node_pools`) that the cluster does not have."""
    if not state.reachable or not cluster.node_pools:
        return []
    present = {p.name for p in state.node_pools}
    return [name for name in cluster.node_pools if name not in present]


SUPPORT_NOTICE_DAYS = 30  # warn this long before a version's end of standard support


def support_warnings(state: ClusterState, policy: KubernetesPolicy, today: dt.date) -> list[str]:
    """A pending or running upgrade, or a version at or past its end of support: things a
    person should plan for, not failures. [] when none or when not observed."""
    if not state.reachable:
        return []
    warnings = []
    master = minor_of(state.master_version)
    if policy.min_minor is not None and master is not None and master[0] == 1 and master[1] < policy.min_minor:
        warnings.append(
            f"control plane {state.master_version} is older than the fleet's minimum "
            f"1.{policy.min_minor} (end of support)"
        )
    up = state.upgrade
    if up:
        current = parse_version(state.master_version)
        for kind, target in (("minor", up.minor_target_version), ("patch", up.patch_target_version)):
            target_v = parse_version(target)
            if target_v and current and target_v > current:
                warnings.append(f"{kind} upgrade pending: {state.master_version} -> {target}")
        warnings += [f"upgrade running: {r}" for r in up.running]
        if any(s != "ACTIVE" for s in up.auto_upgrade_status):
            reasons = ", ".join(up.paused_reason) or "no reason given"
            warnings.append(f"auto-upgrade {', '.join(up.auto_upgrade_status)} ({reasons})")
        minor_name = _minor_text(master) if master else state.master_version
        end = up.end_of_standard_support
        if end and end <= today:
            extended = f"; extended support ends {up.end_of_extended_support}" if up.end_of_extended_support else ""
            warnings.append(f"{minor_name} reached end of standard support on {end}{extended}")
        elif end and (end - today).days <= SUPPORT_NOTICE_DAYS:
            warnings.append(f"{minor_name} standard support ends on {end}, in {(end - today).days} days")
        if up.support_warning:
            warnings.append(up.support_warning)
    master_v = parse_version(state.master_version)
    for pool in state.node_pools:
        for one in (pool.version or "").split(", "):
            pool_v = parse_version(one)
            if pool_v and master_v and pool_v[:3] < master_v[:3]:
                warnings.append(
                    f"pool {pool.name} on {one} is behind the control plane "
                    f"{state.master_version}: node upgrade pending"
                )
    if state.status in IN_PROGRESS_STATUSES:
        warnings.append(f"cluster status {state.status}: an operation (often an upgrade) is in progress")
    return warnings


# GKE's, EKS's and AKS's cluster statuses (AKS: provisioningState upper-cased, STOPPED when
# powered off): the in-progress ones pass through (a WARN above); these fail
FAILED_STATUSES = ("ERROR", "DEGRADED", "STOPPING", "FAILED", "DELETING", "STOPPED")
IN_PROGRESS_STATUSES = ("RECONCILING", "PROVISIONING", "UPDATING", "CREATING", "UPGRADING", "SCALING", "STARTING")


def reachability_problem(state: ClusterState) -> str | None:
    """Why the cluster cannot be worked with: not reachable, or its provider reports it
    failed; None when it answered and is healthy."""
    if not state.reachable:
        return f"not reachable: {state.reason}"
    if state.status in FAILED_STATUSES:
        return f"status {state.status}" + (f": {state.status_message}" if state.status_message else "")
    return None
