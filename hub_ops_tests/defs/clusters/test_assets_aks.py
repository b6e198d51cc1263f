"""The clusters asset with azure clusters: managedClusters GET and upgradeProfiles/default from
the AKS stand-in (recorded response shapes, hub_ops_tests/aks_recorded.py: no AKS control
plane runs here), nodes from the stack's AKS kube-apiserver reached with an Entra ID token
(hub_ops_tests/clients/test_aks_kube.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import dagster as dg
import pytest
from kubernetes import client

from hub_ops.clients.sops import Sops
from hub_ops.defs.clusters.assets import observe_cluster
from hub_ops.defs.clusters.resources import GkeResource
from hub_ops.fleet import load_fleet
from hub_ops.fleet.observed import reachability_problem, support_warnings
from hub_ops_tests import aks_recorded
from hub_ops_tests.clients.test_aks_kube import SUBSCRIPTION, add_aks_cluster, add_azure_fleet_cluster
from hub_ops_tests.clients.test_eks_kube import bind_cluster_role
from hub_ops_tests.defs.clusters.test_assets import checks, materialize, metadata
from hub_ops_tests.kube_nodes import NodeFactory
from hub_ops_tests.tables import rows

AGENTPOOL_LABEL = "kubernetes.azure.com/agentpool"  # what AKS puts on its nodes


@pytest.fixture
def aks_observed(aks_env, example_fleet, age_key):
    """The azure clusters `aks-obs` (running, its principal may list nodes; two nodes of pool
    core registered) and `aks-stopped` (powered off) in the example fleet."""
    plane, kube_cluster = aks_env
    principal, key = plane.add_service_principal()
    key["subscriptionId"] = SUBSCRIPTION
    running = add_aks_cluster(plane, kube_cluster, users={principal.object_id})
    stopped = add_aks_cluster(plane, kube_cluster, users={principal.object_id}, power="Stopped")
    add_azure_fleet_cluster(example_fleet, "aks-obs", running, key, age_key, node_pools=["core", "gpu"])
    add_azure_fleet_cluster(example_fleet, "aks-stopped", stopped, key, age_key)
    api = kube_cluster.api_client()
    role = f"node-reader-{uuid.uuid4().hex[:6]}"
    client.RbacAuthorizationV1Api(api).create_cluster_role(
        client.V1ClusterRole(
            metadata=client.V1ObjectMeta(name=role),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["nodes"], verbs=["get", "list"])],
        )
    )
    bind_cluster_role(api, principal.object_id, role)
    nodes = NodeFactory(api)
    for i in range(2):
        nodes.add(f"aks-core-{uuid.uuid4().hex[:6]}-{i}", "v1.20.2", pool="core", pool_label=AGENTPOOL_LABEL)
    yield example_fleet
    nodes.cleanup()
    api.close()


def test_an_aks_cluster_is_observed_with_pools_upgrades_and_power_state(aks_observed, age_key):
    fleet = load_fleet(aks_observed, check_files=False)
    sops = Sops(str(age_key.path))
    state = observe_cluster(fleet.clusters["aks-obs"], fleet, None, True, sops)

    body = aks_recorded.managed_cluster(SUBSCRIPTION, "rg", "x")["properties"]  # what ARM answered
    assert state.reachable and state.source == "AKS API" and state.provider == "azure"
    assert (state.status, state.master_version) == (body["provisioningState"].upper(), body["currentKubernetesVersion"])
    assert state.release_channel == f"auto-upgrade {body['autoUpgradeProfile']['upgradeChannel']}"
    pools = {p.name: p for p in state.node_pools}
    assert sorted(pools) == sorted(aks_recorded.POOLS)
    for name, (vm, _count, autoscale, low, high, mode, version) in aks_recorded.POOLS.items():
        pool = pools[name]
        assert (pool.machine_type, pool.autoscaling, pool.min_nodes, pool.max_nodes, pool.mode, pool.version) == (
            vm,
            autoscale,
            low,
            high,
            mode,
            version,
        )
        assert pool.status == "Succeeded, Running"
    assert pools["core"].node_count == 2  # the nodes labelled with the pool, counted through the API
    assert "available upgrades: 1.20.15, 1.21.14, 1.22.6 (preview)" in state.notes
    # the patch channel takes the newest patch of 1.20 on its own: a pending upgrade
    assert (state.upgrade.patch_target_version, state.upgrade.minor_target_version) == ("1.20.15", None)
    assert reachability_problem(state) is None

    warnings = support_warnings(state, fleet.settings.kubernetes, dt.date(2026, 12, 2))
    assert "patch upgrade pending: 1.20.2 -> 1.20.15" in warnings
    assert "pool nbuser on 1.19.16 is behind the control plane 1.20.2: node upgrade pending" in warnings

    stopped = observe_cluster(fleet.clusters["aks-stopped"], fleet, None, False, sops)
    assert reachability_problem(stopped) == "status STOPPED: provisioning Succeeded, power Stopped"


def test_the_asset_table_says_azure_and_the_checks_cover_it(aks_observed, age_key):
    result = materialize(aks_observed, GkeResource(credentials="none"), list_nodes=True, age_key_file=str(age_key.path))

    assert result.success
    by_cluster = {r["cluster"]: r for r in rows(metadata(result)["clusters"])}
    assert (by_cluster["aks-obs"]["provider"], by_cluster["aks-obs"]["reachable"]) == ("azure", True)
    assert by_cluster["aks-obs"]["control plane"] == "1.20.2" and by_cluster["aks-obs"]["nodes"] == 2
    detail = {r["fact"]: r["value"] for r in rows(metadata(result)["cluster aks-obs"])}
    assert (detail["observed via"], detail["control plane"]) == ("AKS API", "1.20.2")
    pools = {(r["cluster"], r["pool"]): r for r in rows(metadata(result)["node pools"])}
    assert (
        pools[("aks-obs", "nbuser")]["mode"] == "User" and pools[("aks-obs", "nbuser")]["min..max per zone"] == "0..100"
    )
    evaluations = checks(result)

    def clusters_in(check: str, key: str) -> list[str]:
        return [r["cluster"] for r in rows(evaluations[check].metadata[key])]

    assert "aks-stopped" in clusters_in("reachable", "problems") and "aks-obs" not in clusters_in(
        "reachable", "problems"
    )
    support = evaluations["upgrades_and_support"]
    # nodes on 1.19 and 1.20 under a 1.20 control plane: within the example fleet's skew of 2
    assert "aks-obs" not in clusters_in("versions_within_skew", "problems")
    assert "aks-obs" not in clusters_in("versions_within_skew", "not checked")
    assert clusters_in("declared_node_pools_exist", "problems") == ["aks-obs"]  # gpu is declared, not there
    # 1.20 is older than the fleet's kubernetes.min_minor (30), and the patch channel's upgrade is pending
    warned = [r["warning"] for r in rows(support.metadata["problems"]) if r["cluster"] == "aks-obs"]
    assert "control plane 1.20.2 is older than the fleet's minimum 1.30 (end of support)" in warned
    support = evaluations["upgrades_and_support"]
    assert (
        not support.passed
        and support.severity == dg.AssetCheckSeverity.WARN
        and "aks-obs" in clusters_in("upgrades_and_support", "problems")
    )


def test_aks_support_comes_from_the_minors_aks_lists_in_the_region(aks_env, example_fleet, age_key):
    plane, kube_cluster = aks_env
    plane.kubernetes_versions["westeurope"] = aks_recorded.kubernetes_versions()
    principal, key = plane.add_service_principal()
    key["subscriptionId"] = SUBSCRIPTION
    clusters = {  # fleet name -> (version, support plan)
        "aks-oldest": ("1.20.2", "KubernetesOfficial"),
        "aks-current": ("1.21.14", "KubernetesOfficial"),
        "aks-gone": ("1.19.16", "KubernetesOfficial"),
        "aks-past-community": ("1.18.20", "KubernetesOfficial"),
        "aks-lts": ("1.18.20", "AKSLongTermSupport"),
        "aks-preview": ("1.23.5", "KubernetesOfficial"),  # newer than every GA minor: not leaving support
    }
    for name, (version, plan) in clusters.items():
        aks = add_aks_cluster(plane, kube_cluster, users={principal.object_id}, version=version, support_plan=plan)
        add_azure_fleet_cluster(example_fleet, name, aks, key, age_key)
    fleet = load_fleet(example_fleet, check_files=False)
    sops = Sops(str(age_key.path))
    requests_before = len(plane.requests)
    states = {name: observe_cluster(fleet.clusters[name], fleet, None, False, sops) for name in clusters}

    def under(plan: str) -> str:  # the GA minors the recorded answer lists under `plan`
        return ", ".join(m for m, plans, preview, _ in aks_recorded.VERSIONS if plan in plans and not preview)

    def warned(name: str) -> list[str]:
        return support_warnings(states[name], fleet.settings.kubernetes, dt.date(2026, 12, 2))

    official, lts = under("KubernetesOfficial"), under("AKSLongTermSupport")
    assert official == "1.20, 1.21, 1.22" and lts == "1.18, 1.22"
    assert (
        f"1.20 is the oldest version AKS in westeurope supports under KubernetesOfficial ({official}): "
        "its support ends when AKS makes the next minor version generally available"
    ) in warned("aks-oldest")
    assert states["aks-current"].upgrade.support_warning is None
    assert states["aks-preview"].upgrade.support_warning is None
    assert not [w for w in warned("aks-current") if "support" in w and "fleet's minimum" not in w]
    assert f"1.19 reached end of KubernetesOfficial support: AKS in westeurope supports {official} under it" in warned(
        "aks-gone"
    )
    assert (
        f"1.18 reached end of KubernetesOfficial support: AKS in westeurope supports {official} under it "
        "(only under AKSLongTermSupport)" in warned("aks-past-community")
    )
    assert states["aks-lts"].upgrade.support_warning == (
        f"1.18 is the oldest version AKS in westeurope supports under AKSLongTermSupport ({lts}): "
        "its support ends when AKS makes the next minor version generally available"
    )
    asked = [r for r in plane.requests[requests_before:] if r.endswith("/locations/westeurope/kubernetesVersions")]
    assert len(asked) == len(clusters)  # one per observation, through the SDK's list_kubernetes_versions
