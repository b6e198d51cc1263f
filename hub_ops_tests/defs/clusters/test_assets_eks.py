"""The clusters asset with an aws cluster: DescribeCluster and the managed node groups from
moto's EKS, DescribeClusterVersions from a recorded response shape (moto has none; see
hub_ops_tests/eks_recorded.py), nodes from the local EKS stack's kube-apiserver reached with
an STS token (hub_ops_tests/clients/test_eks_kube.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import boto3
import dagster as dg
import pytest
from kubernetes import client

from hub_ops.clients.sops import Sops
from hub_ops.defs.clusters.assets import observe_cluster
from hub_ops.defs.clusters.resources import GkeResource
from hub_ops.fleet import load_fleet
from hub_ops.fleet.observed import support_warnings
from hub_ops_dev.stack.moto import MOTO_ACCOUNT
from hub_ops_tests.clients.test_eks_kube import add_trusted_aws_cluster, bind_cluster_role
from hub_ops_tests.defs.clusters.test_assets import checks, materialize, metadata
from hub_ops_tests.eks_recorded import CALENDAR, cluster_versions
from hub_ops_tests.kube_nodes import NodeFactory
from hub_ops_tests.tables import rows

GROUPS = {  # name -> (instance types, min, max, desired, version)
    "core": (["m5.large"], 1, 3, 2, "1.20"),
    "users": (["r5.xlarge", "r5a.xlarge"], 0, 10, 0, "1.19"),
}


@pytest.fixture
def eks_groups(eks_env, aws_env):
    """Managed node groups GROUPS (names made unique) on the stack's EKS cluster in moto,
    and nodes of the first one registered on its apiserver; removed afterwards."""
    plane, kube_cluster = eks_env
    eks = boto3.client("eks", endpoint_url=aws_env.endpoint)
    suffix = uuid.uuid4().hex[:6]
    names = {}
    for group, (types, low, high, desired, version) in GROUPS.items():
        names[group] = f"{group}-{suffix}"
        eks.create_nodegroup(
            clusterName=plane.cluster_id,
            nodegroupName=names[group],
            instanceTypes=types,
            scalingConfig={"minSize": low, "maxSize": high, "desiredSize": desired},
            version=version,
            subnets=["subnet-1"],
            nodeRole=f"arn:aws:iam::{MOTO_ACCOUNT}:role/node",
        )
    plane.cluster_versions = cluster_versions()
    api = kube_cluster.api_client()
    nodes = NodeFactory(api)
    for i in range(GROUPS["core"][3]):
        nodes.add(f"core-{i}", "v1.20.2", pool=names["core"], pool_label="eks.amazonaws.com/nodegroup")
    yield names
    nodes.cleanup()
    api.close()
    plane.cluster_versions = None
    for name in names.values():
        eks.delete_nodegroup(clusterName=plane.cluster_id, nodegroupName=name)


def observer(eks_env, example_fleet, age_key) -> None:
    """The aws cluster `eks-obs`, whose IAM user may list nodes (what the clusters asset reads)."""
    plane, kube_cluster = eks_env
    arn, _key = add_trusted_aws_cluster(plane, example_fleet, age_key, "eks-obs")
    with kube_cluster.api_client() as admin:
        role = f"node-reader-{uuid.uuid4().hex[:6]}"
        client.RbacAuthorizationV1Api(admin).create_cluster_role(
            client.V1ClusterRole(
                metadata=client.V1ObjectMeta(name=role),
                rules=[client.V1PolicyRule(api_groups=[""], resources=["nodes"], verbs=["get", "list"])],
            )
        )
        bind_cluster_role(admin, arn, role)


def test_an_eks_cluster_is_observed_with_groups_versions_and_support_dates(eks_env, eks_groups, example_fleet, age_key):
    plane, _kube = eks_env
    observer(eks_env, example_fleet, age_key)
    fleet = load_fleet(example_fleet, check_files=False)
    state = observe_cluster(fleet.clusters["eks-obs"], fleet, None, True, Sops(str(age_key.path)))

    described = boto3.client("eks").describe_cluster(name=plane.cluster_id)["cluster"]  # moto, directly
    assert state.reachable and state.source == "EKS API" and state.provider == "aws"
    assert (state.status, state.master_version, state.platform_version) == (
        described["status"],
        described["version"],
        described["platformVersion"],
    )
    ours = {p.name: p for p in state.node_pools if p.name in eks_groups.values()}
    for group, (types, low, high, desired, version) in GROUPS.items():
        pool = ours[eks_groups[group]]
        assert (pool.machine_type, pool.min_nodes, pool.max_nodes, pool.version) == (
            ", ".join(types),
            low,
            high,
            version,
        )
        assert pool.node_count == desired  # nodes registered with the group's label, counted via the API
    _release, standard, extended, status = CALENDAR["1.20"]
    assert state.upgrade.end_of_standard_support == dt.date.fromisoformat(standard)
    assert state.upgrade.end_of_extended_support is None and extended is None
    assert state.release_channel.startswith(status)
    newer = sorted(v for v in CALENDAR if v != "1.20")
    assert f"newer EKS versions: {', '.join(newer)}" in state.notes

    warnings = support_warnings(state, fleet.settings.kubernetes, dt.date(2026, 12, 2))
    assert f"1.20 reached end of standard support on {standard}" in warnings
    assert any(w.startswith(f"pool {eks_groups['users']} on 1.19 is behind the control plane 1.20") for w in warnings)


def test_the_asset_table_says_aws_and_the_checks_cover_it(eks_env, eks_groups, example_fleet, age_key):
    observer(eks_env, example_fleet, age_key)
    result = materialize(
        example_fleet, GkeResource(credentials="none"), list_nodes=True, age_key_file=str(age_key.path)
    )

    assert result.success
    row = next(r for r in rows(metadata(result)["clusters"]) if r["cluster"] == "eks-obs")
    assert (row["provider"], row["reachable"]) == ("aws", True)
    detail = {r["fact"]: r["value"] for r in rows(metadata(result)["cluster eks-obs"])}
    assert detail["observed via"] == "EKS API" and detail["platform version"].startswith("eks.")
    pools = [r["pool"] for r in rows(metadata(result)["node pools"]) if r["cluster"] == "eks-obs"]
    assert eks_groups["core"] in pools
    evaluations = checks(result)

    def clusters_in(check: str, key: str) -> list[str]:
        return [r["cluster"] for r in rows(evaluations[check].metadata[key])]

    assert "eks-obs" not in clusters_in("reachable", "problems")
    skew = evaluations["versions_within_skew"]
    assert "eks-obs" not in clusters_in("versions_within_skew", "not checked") and skew.metadata["checked"].value >= 1
    support = evaluations["upgrades_and_support"]
    assert support.severity == dg.AssetCheckSeverity.WARN and "eks-obs" in clusters_in(
        "upgrades_and_support", "problems"
    )
