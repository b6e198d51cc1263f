"""Observed cluster state against the fleet's config and kubernetes policy (pure functions)."""

import datetime as dt

import pytest

from hub_ops.fleet.models import Cluster, KubernetesPolicy
from hub_ops.fleet.observed import (
    ClusterState,
    NodePoolState,
    NodeState,
    UpgradeState,
    minor_of,
    missing_node_pools,
    parse_version,
    pools_from_nodes,
    reachability_problem,
    support_warnings,
    version_skew_problems,
)

TODAY = dt.date(2026, 11, 26)
POLICY = KubernetesPolicy(max_minor_skew=2, min_minor=30)


def state(master="1.31.4-gke.100", pools=(("core", "1.31.4-gke.100"),), status="RUNNING", **kw) -> ClusterState:
    return ClusterState(
        cluster="c",
        provider="gcp",
        source="GKE API",
        reachable=True,
        status=status,
        master_version=master,
        node_pools=[NodePoolState(name=n, version=v) for n, v in pools],
        **kw,
    )


def gcp_cluster(node_pools: list[str]) -> Cluster:
    return Cluster(name="c", provider="gcp", gcp={"project": "p", "cluster": "c", "zone": "z"}, node_pools=node_pools)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1.30.5-gke.1014001", (1, 30, 5, 1014001)),
        ("v1.20.2", (1, 20, 2, 0)),
        ("v1.29.3-eks-ae9a62a", (1, 29, 3, 0)),
        ("1.31", (1, 31, 0, 0)),
        ("latest", None),
        (None, None),
    ],
)
def test_parse_version_reads_gke_kubelet_and_eks_forms(text, expected):
    assert parse_version(text) == expected


def test_gke_build_numbers_order_patch_releases():
    assert parse_version("1.34.1-gke.2031000") > parse_version("1.34.1-gke.1829001")
    assert minor_of("1.34.1-gke.2031000") == (1, 34)


def test_skew_within_policy_passes_and_beyond_it_fails():
    assert version_skew_problems(state(pools=[("a", "1.29.9-gke.1")]), POLICY) == []
    problems = version_skew_problems(state(pools=[("a", "1.28.9-gke.1")]), POLICY)
    assert problems == [
        "nodes on 1.28.9-gke.1 trail the control plane 1.31.4-gke.100 by 3 minor versions (fleet allows 2)"
    ]
    assert version_skew_problems(state(pools=[("a", "1.28.9-gke.1")]), KubernetesPolicy(max_minor_skew=3)) == []


def test_nodes_newer_than_control_plane_fail_skew():
    problems = version_skew_problems(state(pools=[("a", "1.32.0-gke.1")]), POLICY)
    assert problems and "newer than the control plane" in problems[0]


def test_skew_uses_kubelet_versions_when_pools_have_none():
    s = ClusterState(
        cluster="c",
        provider="local",
        source="Kubernetes API",
        reachable=True,
        master_version="v1.20.2",
        nodes=[NodeState("n1", "v1.17.0", True), NodeState("n2", "v1.20.2", True)],
    )
    assert s.node_versions == ["v1.17.0", "v1.20.2"]
    assert version_skew_problems(s, POLICY) == [
        "nodes on v1.17.0 trail the control plane v1.20.2 by 3 minor versions (fleet allows 2)"
    ]


def test_unknown_control_plane_version_is_a_problem_not_a_pass():
    assert version_skew_problems(state(master="unknown"), POLICY) == ["control plane version unknown ('unknown')"]


def test_unreachable_clusters_are_not_compared():
    s = ClusterState(cluster="c", provider="gcp", source="GKE API", reachable=False, reason="no credentials")
    assert version_skew_problems(s, POLICY) == []
    assert missing_node_pools(s, gcp_cluster(["core"])) == []
    assert support_warnings(s, POLICY, TODAY) == []
    assert reachability_problem(s) == "not reachable: no credentials"


def test_missing_pools_are_those_declared_but_absent():
    s = state(pools=[("core", "1.31.4-gke.100"), ("nb-big", "1.31.4-gke.100")])
    assert missing_node_pools(s, gcp_cluster(["core", "nb-small", "nb-big"])) == ["nb-small"]
    assert missing_node_pools(s, gcp_cluster([])) == []


def test_failed_status_makes_a_reachable_cluster_a_problem():
    assert reachability_problem(state()) is None
    assert (
        reachability_problem(state(status="ERROR", status_message="quota exceeded")) == "status ERROR: quota exceeded"
    )


def test_support_warnings_pending_running_paused_end_of_support():
    up = UpgradeState(
        minor_target_version="1.32.1-gke.5",
        patch_target_version="1.31.4-gke.100",
        auto_upgrade_status=["MINOR_UPGRADE_PAUSED"],
        paused_reason=["MAINTENANCE_WINDOW"],
        running=["1.31.3 -> 1.31.4 (AUTOMATIC)"],
        end_of_standard_support=dt.date(2026, 11, 1),
        end_of_extended_support=dt.date(2027, 6, 1),
    )
    warnings = support_warnings(state(upgrade=up), POLICY, TODAY)
    assert warnings == [
        "minor upgrade pending: 1.31.4-gke.100 -> 1.32.1-gke.5",
        "upgrade running: 1.31.3 -> 1.31.4 (AUTOMATIC)",
        "auto-upgrade MINOR_UPGRADE_PAUSED (MAINTENANCE_WINDOW)",
        "1.31 reached end of standard support on 2026-11-01; extended support ends 2027-06-01",
    ]


def test_end_of_support_within_30_days_warns():
    up = UpgradeState(end_of_standard_support=dt.date(2026, 12, 20), auto_upgrade_status=["ACTIVE"])
    assert support_warnings(state(upgrade=up), POLICY, TODAY) == [
        "1.31 standard support ends on 2026-12-20, in 24 days"
    ]
    up.end_of_standard_support = dt.date(2026, 12, 27)  # 31 days out: nothing yet
    assert support_warnings(state(upgrade=up), POLICY, TODAY) == []


def test_no_warning_when_current_supported_and_targets_reached():
    up = UpgradeState(
        minor_target_version="1.31.4-gke.100",
        patch_target_version="1.31.4-gke.100",
        auto_upgrade_status=["ACTIVE"],
        end_of_standard_support=dt.date(2027, 1, 1),
    )
    assert support_warnings(state(upgrade=up), POLICY, TODAY) == []


def test_policy_min_minor_and_lagging_pool_and_reconciling_warn():
    warnings = support_warnings(state(master="v1.20.2", pools=[("a", "v1.19.1")], status="RECONCILING"), POLICY, TODAY)
    assert warnings == [
        "control plane v1.20.2 is older than the fleet's minimum 1.30 (end of support)",
        "pool a on v1.19.1 is behind the control plane v1.20.2: node upgrade pending",
        "cluster status RECONCILING: an operation (often an upgrade) is in progress",
    ]


def test_pools_from_nodes_groups_by_pool_label():
    nodes = [
        NodeState("a1", "v1.20.2", True, pool="core", instance_type="n2-standard-2"),
        NodeState("a2", "v1.20.2", False, pool="core", instance_type="n2-standard-2"),
        NodeState("b1", "v1.19.0", True, pool="user"),
        NodeState("x", "v1.20.2", True),
    ]
    pools = pools_from_nodes(nodes)
    assert [(p.name, p.node_count, p.version, p.status, p.machine_type) for p in pools] == [
        ("core", 2, "v1.20.2", "1/2 ready", "n2-standard-2"),
        ("user", 1, "v1.19.0", "1/1 ready", None),
    ]
