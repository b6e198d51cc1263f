"""Checks on the `clusters` asset: observed state against the fleet's config and policy.

They are evaluated in the same run as the observation (check_specs on the asset), from
the ClusterStates just taken, so a check never reads stale or half-written state. The
comparisons themselves are plain functions in hub_ops.fleet.observed.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from hub_ops.defs.shared.checks import verdict
from hub_ops.fleet import Fleet
from hub_ops.fleet.observed import (
    ClusterState,
    missing_node_pools,
    reachability_problem,
    support_warnings,
    version_skew_problems,
)

ASSET = "clusters"
NO_API = "no API configured"  # a cluster the fleet deliberately gives no API (the local demo)
NOT_ASKED = "-"  # ClusterState.source when no API was asked (no API configured)

CHECK_SPECS = [
    dg.AssetCheckSpec(
        "reachable",
        asset=ASSET,
        description=(
            "Every cluster with an API configured answered, and none reports a failed status "
            "(GKE ERROR, DEGRADED, STOPPING; EKS FAILED, DELETING; AKS Failed, Deleting or powered off). "
            "Clusters with no API configured are listed as not checked, not failed."
        ),
    ),
    dg.AssetCheckSpec(
        "versions_within_skew",
        asset=ASSET,
        description=(
            "Nodes trail the control plane by at most fleet.yaml kubernetes.max_minor_skew minor "
            "versions and are never newer."
        ),
    ),
    dg.AssetCheckSpec(
        "declared_node_pools_exist",
        asset=ASSET,
        description=("Every pool a cluster.yaml lists under node_pools exists in the observed cluster."),
    ),
    dg.AssetCheckSpec(
        "upgrades_and_support",
        asset=ASSET,
        description=(
            "WARN: a pending or running upgrade (AKS: the one its auto-upgrade channel will make), "
            "paused auto-upgrades, a pool behind the control plane, or a version at or within 30 days "
            "of its end of standard support (GKE's and EKS's dates), AKS's oldest supported minor or "
            "one it no longer lists (AKS publishes no dates), or older than fleet.yaml kubernetes.min_minor."
        ),
    ),
]


def _result(
    name: str,
    rows: list[tuple[str, str]],
    checked: list[str],
    not_checked: dict[str, str],
    severity: dg.AssetCheckSeverity,
    what: str,
    ok: str,
) -> dg.AssetCheckResult:
    return verdict(
        subject="cluster",
        checked=checked,
        problems=[{"cluster": cluster, what: text} for cluster, text in rows],
        problem_columns=["cluster", what],
        not_checked=not_checked,
        ok=ok,
        severity=severity,
        check_name=name,
        asset_key=ASSET,
    )


def evaluate(states: list[ClusterState], fleet: Fleet, today: dt.date) -> list[dg.AssetCheckResult]:
    """One AssetCheckResult per spec in CHECK_SPECS for these observations."""
    policy = fleet.settings.kubernetes
    observed = [s.cluster for s in states if s.reachable]
    not_observed = {s.cluster: f"not observed: {s.reason}" for s in states if not s.reachable}
    not_asked = {s.cluster: s.reason or "no API asked" for s in states if s.source == NOT_ASKED}
    reach_rows = [
        (s.cluster, problem) for s in states if (problem := reachability_problem(s)) and s.cluster not in not_asked
    ]
    skew_rows = [(s.cluster, p) for s in states for p in version_skew_problems(s, policy)]
    pool_rows = [
        (s.cluster, f"pool {p} declared in cluster.yaml node_pools but not in the cluster")
        for s in states
        for p in missing_node_pools(s, fleet.clusters[s.cluster])
    ]
    support_rows = [(s.cluster, w) for s in states for w in support_warnings(s, policy, today)]

    return [
        _result(
            "reachable",
            reach_rows,
            [s.cluster for s in states if s.cluster not in not_asked],
            not_asked,
            dg.AssetCheckSeverity.ERROR,
            "problem",
            "all reachable",
        ),
        _result(
            "versions_within_skew",
            skew_rows,
            observed,
            not_observed,
            dg.AssetCheckSeverity.ERROR,
            "problem",
            f"node versions within {policy.max_minor_skew} minors of the control plane",
        ),
        _result(
            "declared_node_pools_exist",
            pool_rows,
            [c for c in observed if fleet.clusters[c].node_pools],
            not_observed | {c: "no node_pools declared" for c in observed if not fleet.clusters[c].node_pools},
            dg.AssetCheckSeverity.ERROR,
            "problem",
            "every declared pool exists",
        ),
        _result(
            "upgrades_and_support",
            support_rows,
            observed,
            not_observed,
            dg.AssetCheckSeverity.WARN,
            "warning",
            "no pending upgrade, every version supported",
        ),
    ]
