"""Usage groups -> cost lines: per day, what each hub cost, what was shared, what is unknown.

Rules (issue 6):
- a row belongs to a cluster of the fleet by its `goog-k8s-cluster-name` label (the cluster's
  gcp.cluster) *and* its project (gcp.project); a row without the label by its project alone;
- a hub's direct cost is its cluster's rows in the hub's namespace (hub.effective_namespace);
- shared lines stay visible, one per kind: `idle` (kube:unallocated), `system-overhead`
  (kube:system-overhead), `support`, `kube-system`, `cluster-unattributed` (cluster rows without
  a namespace, such as the management fee, and goog-k8s-unknown / goog-k8s-unsupported-sku)
  and `project-untagged` (rows of a fleet cluster's project without a cluster label: NAT,
  egress, buckets...);
- the fleet's policy (fleet.yaml costs.sharing) splits each shared line, day by day, over the
  hubs of its cluster (project-untagged: of every fleet cluster in the project):
  `proportional` to each hub's direct net cost that day (evenly when no hub had any),
  `even`, or `none` (the line stays whole). The part a hub receives is a row of its own
  (hub set, `shared_by` = the split used), so the line's total stays visible;
- rows of a cluster, namespace or project the fleet does not know are kept as the lines
  `unknown-cluster`, `unknown-namespace`, `unknown-project`, never shared, never dropped.

AWS (hub_ops.costs.cur): the same rules with the account for the project and the EKS cluster
name for the GKE one; split cost allocation's unused capacity is `idle`, and a row tagged with a
hub (namespace `hub-tag:<hub>`) is that hub's direct cost. Clusters are keyed by provider too,
so an account and a project never meet.

Azure (hub_ops.costs.azure): the project is the resource group (lower case), the cluster the AKS
cluster (fleet `azure.resource_group`, `azure.cluster`); rows of AKS's node resource group
`MC_<group>_<cluster>_<region>` (scale sets, disks, load balancers) are that cluster's rows.

Amounts stay integer nanos; a split gives the remainder nanos to the largest fractions, so the
lines of a day add up to the day's total exactly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from hub_ops.costs import schema as s
from hub_ops.costs.cur import HUB_TAG_PREFIX, UNUSED_NAMESPACE
from hub_ops.costs.usage import Usage
from hub_ops.fleet import Fleet

POLICIES = ("proportional", "even", "none")
HUB = "hub"
SHARED_LINES = ("idle", "system-overhead", "support", "kube-system", "cluster-unattributed", "project-untagged")
UNKNOWN_LINES = ("unknown-namespace", "unknown-cluster", "unknown-project")
LINE_ORDER = (HUB, *SHARED_LINES, *UNKNOWN_LINES)
NAMESPACE_LINES = {
    s.UNALLOCATED_NAMESPACE: "idle",
    UNUSED_NAMESPACE: "idle",
    s.SYSTEM_OVERHEAD_NAMESPACE: "system-overhead",
    "support": "support",
    "kube-system": "kube-system",
    s.UNKNOWN_NAMESPACE: "cluster-unattributed",
    s.UNSUPPORTED_SKU_NAMESPACE: "cluster-unattributed",
    "": "cluster-unattributed",
}
LINE_COLUMNS = [
    "day",
    "cluster",
    "hub",
    "line",
    "namespace",
    "project",
    "shared_by",
    "currency",
    "provider",
    "cost_nanos",
    "credits_nanos",
]


def _billing_ids(cluster) -> tuple[str, str] | None:
    """(project, cloud cluster name) as the cluster's billing export names them: GCP project and
    GKE cluster; AWS account and EKS cluster."""
    if cluster.provider == "gcp" and cluster.gcp is not None:
        return cluster.gcp.project, cluster.gcp.cluster
    if cluster.provider == "aws" and cluster.aws is not None:
        return str(cluster.aws.account), cluster.aws.clusterName
    if cluster.provider == "azure" and cluster.azure is not None:  # as hub_ops.costs.azure spells them
        return cluster.azure.resource_group.lower(), cluster.azure.cluster.lower()
    return None


@dataclass(frozen=True)
class FleetCostMap:
    """The fleet as cost attribution sees it: clusters by (provider, project or account, cloud
    cluster name), hubs by namespace."""

    clusters: dict[tuple[str, str, str], str]
    projects: dict[tuple[str, str], tuple[str, ...]]
    hubs: dict[tuple[str, str], str]
    hubs_of: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_fleet(cls, fleet: Fleet) -> FleetCostMap:
        clusters, projects, hubs, hubs_of = {}, defaultdict(list), {}, {}
        for cluster in fleet.clusters.values():
            ids = _billing_ids(cluster)
            if ids is None:
                continue
            clusters[(cluster.provider, *ids)] = cluster.name
            projects[(cluster.provider, ids[0])].append(cluster.name)
            hubs_of[cluster.name] = tuple(h.name for h in cluster.hubs)
            for hub in cluster.hubs:
                hubs[(cluster.name, hub.effective_namespace)] = hub.name
        return cls(clusters, {p: tuple(c) for p, c in projects.items()}, hubs, hubs_of)

    def classify(
        self, project: str, cloud_cluster: str, namespace: str, provider: str = "gcp"
    ) -> tuple[str, str, str, tuple]:
        """(report cluster, hub, line, sharing scope) of a group of rows; scope () = never shared."""
        if provider == "azure" and not cloud_cluster:
            project, cloud_cluster = self._aks_node_group(project)
        if namespace.startswith(HUB_TAG_PREFIX):  # AWS rows tagged with a hub (2i2c:hub-name)
            return self._tagged_hub(namespace.removeprefix(HUB_TAG_PREFIX), project, cloud_cluster, provider)
        if cloud_cluster:
            cluster = self.clusters.get((provider, project, cloud_cluster))
            if cluster is None:
                return cloud_cluster, "", "unknown-cluster", ()
            hub = self.hubs.get((cluster, namespace))
            if hub is not None:
                return cluster, hub, HUB, ()
            line = NAMESPACE_LINES.get(namespace)
            if line is None:
                return cluster, "", "unknown-namespace", ()
            return cluster, "", line, (cluster,)
        in_project = self.projects.get((provider, project), ())
        if not in_project:
            return "", "", "unknown-project", ()
        return (in_project[0] if len(in_project) == 1 else ""), "", "project-untagged", in_project

    def _aks_node_group(self, group: str) -> tuple[str, str]:
        """(resource group, AKS cluster) of a fleet cluster whose node resource group
        (MC_<group>_<cluster>_<region>) is `group`; else (group, "")."""
        if group.startswith("mc_"):
            for provider, resource_group, aks in self.clusters:
                if provider == "azure" and group.startswith(f"mc_{resource_group}_{aks}_"):
                    return resource_group, aks
        return group, ""

    def _tagged_hub(self, name: str, project: str, cloud_cluster: str, provider: str) -> tuple[str, str, str, tuple]:
        """A hub-tagged row: the hub of that name in its cluster, or (no cluster tag) in the one
        fleet cluster of its account that has such a hub; else an unknown line."""
        if cloud_cluster:
            cluster = self.clusters.get((provider, project, cloud_cluster))
            if cluster is None:
                return cloud_cluster, "", "unknown-cluster", ()
            candidates: tuple[str, ...] = (cluster,)
        else:
            candidates = self.projects.get((provider, project), ())
            if not candidates:
                return "", "", "unknown-project", ()
        owners = [c for c in candidates if name in self.hubs_of.get(c, ())]
        if len(owners) == 1:
            return owners[0], name, HUB, ()
        return (candidates[0] if len(candidates) == 1 else ""), "", "unknown-namespace", ()

    def scope_hubs(self, scope: tuple[str, ...]) -> list[tuple[str, str]]:
        return [(cluster, hub) for cluster in scope for hub in self.hubs_of.get(cluster, ())]


def split(amount: int, weights: list[int]) -> list[int]:
    """`amount` split in proportion to non-negative integer `weights` (sum > 0); the parts are
    integers that add up to `amount` exactly (largest remainders get the leftover units)."""
    total = sum(weights)
    parts = [amount * w // total for w in weights]
    remainders = [amount * w % total for w in weights]
    for i in sorted(range(len(weights)), key=lambda i: -remainders[i])[: amount - sum(parts)]:
        parts[i] += 1
    return parts


def attribute(usage: Usage, fleet: Fleet, policy: str) -> pd.DataFrame:
    """Cost lines per day (LINE_COLUMNS, amounts in nanos) whose sums equal the usage's groups.

    Pure: reads nothing, writes nothing; the same usage, fleet and policy give the same lines.
    """
    if policy not in POLICIES:
        raise ValueError(f"costs.sharing is {policy!r}: expected one of {', '.join(POLICIES)}")
    fleet_map = FleetCostMap.from_fleet(fleet)
    groups = usage.groups
    if groups.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c.endswith("_nanos") else "object") for c in LINE_COLUMNS})
    if "provider" not in groups.columns:
        groups = groups.assign(provider="gcp")
    key_columns = ["provider", "project", "cluster", "namespace"]
    keys = groups[key_columns].drop_duplicates()
    classified = pd.DataFrame(
        [(v, p, c, n, *fleet_map.classify(p, c, n, v)) for v, p, c, n in keys.itertuples(index=False)],
        columns=[*key_columns, "report_cluster", "hub", "line", "scope"],
    )
    rows = groups.merge(classified, on=key_columns, how="left", validate="many_to_one")

    out: list[tuple] = []
    shared = rows["line"].isin(SHARED_LINES) & (policy != "none")
    for r in rows[~shared].itertuples(index=False):
        out.append(
            (
                r.day,
                r.report_cluster,
                r.hub,
                r.line,
                r.namespace,
                r.project,
                "",
                r.currency,
                r.provider,
                int(r.cost_nanos),
                int(r.credits_nanos),
            )
        )

    direct = rows[rows["line"] == HUB]
    direct_net = defaultdict(int)
    for r in direct.itertuples(index=False):
        direct_net[(r.day, r.report_cluster, r.hub)] += int(r.cost_nanos) + int(r.credits_nanos)
    for r in rows[shared].itertuples(index=False):
        targets = fleet_map.scope_hubs(r.scope)
        if not targets:  # a cluster without hubs: nobody to share with
            out.append(
                (
                    r.day,
                    r.report_cluster,
                    "",
                    r.line,
                    r.namespace,
                    r.project,
                    "",
                    r.currency,
                    r.provider,
                    int(r.cost_nanos),
                    int(r.credits_nanos),
                )
            )
            continue
        used = policy
        weights = [1] * len(targets)
        if policy == "proportional":
            weights = [max(direct_net.get((r.day, c, h), 0), 0) for c, h in targets]
            if sum(weights) == 0:
                used, weights = "even", [1] * len(targets)
        costs = split(int(r.cost_nanos), weights)
        credits = split(int(r.credits_nanos), weights)
        for (cluster, hub), weight, cost, credit in zip(targets, weights, costs, credits):
            if weight == 0:  # a hub without direct cost that day gets no proportional share
                continue
            out.append(
                (r.day, cluster, hub, r.line, r.namespace, r.project, used, r.currency, r.provider, cost, credit)
            )
    lines = pd.DataFrame(out, columns=LINE_COLUMNS)
    lines = lines.groupby(LINE_COLUMNS[:9], as_index=False, sort=False)[["cost_nanos", "credits_nanos"]].sum()
    return ordered_lines(lines)


def ordered_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Lines in reading order: period, cluster, hub line then shared then unknown lines."""
    order = {line: i for i, line in enumerate(LINE_ORDER)}
    lines = lines.assign(_order=lines["line"].map(order))
    by = (
        [c for c in ("day", "date", "month") if c in lines.columns]
        + [
            "cluster",
            "_order",
            "hub",
            "namespace",
            "project",
            "shared_by",
        ]
        + [c for c in ("provider",) if c in lines.columns]
    )
    return lines.sort_values(by, kind="stable").drop(columns="_order").reset_index(drop=True)
