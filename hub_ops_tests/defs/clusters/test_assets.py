"""The clusters asset and its checks, materialized on the example fleet.

The GKE side talks to recorded GKE v1 response shapes (not live; see
hub_ops_tests/gke_recorded.py), the kubeconfig side to the local kube-apiserver
(test_assets_kube.py).
"""

import dagster as dg
import pytest

from hub_ops.definitions import defs
from hub_ops.defs.clusters.assets import clusters
from hub_ops.defs.clusters.resources import GkeResource
from hub_ops.defs.shared.resources import FleetResource, SopsResource
from hub_ops_dev.stack.process import free_port
from hub_ops_tests.tables import rows


def materialize(
    fleet_root, gke: GkeResource, list_nodes: bool = False, age_key_file: str | None = None
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [clusters],
        resources={
            "fleet": FleetResource(root=str(fleet_root)),
            "gke": gke,
            "sops": SopsResource(age_key_file=age_key_file),
        },
        run_config={"ops": {"clusters": {"config": {"list_nodes": list_nodes}}}},
        instance=dg.DagsterInstance.ephemeral(),
    )


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def metadata(result) -> dict:
    return result.asset_materializations_for_node("clusters")[0].metadata


@pytest.fixture
def recorded_gke(gke_api) -> GkeResource:
    return GkeResource(
        credentials="access_token", access_token="test-token", api_endpoint=gke_api.endpoint, timeout_seconds=10
    )


def test_local_default_reports_no_credentials_and_no_api_without_failing(example_fleet):
    result = materialize(example_fleet, GkeResource(credentials="none"))
    assert result.success
    by_cluster = {row["cluster"]: row for row in rows(metadata(result)["clusters"])}
    assert by_cluster["pangeo-hubs"]["status"] == "not reachable: no credentials (the local environment uses none)"
    assert by_cluster["community-hubs"]["status"].startswith("not reachable: no credentials")
    assert by_cluster["local-demo"]["status"] == "not reachable: no API configured"
    assert not any(row["reachable"] for row in by_cluster.values())
    evaluations = checks(result)
    assert not evaluations["reachable"].passed
    assert evaluations["reachable"].description == (
        "2 of 3 clusters failed: community-hubs, pangeo-hubs (1 not checked: local-demo)"
    )
    assert rows(evaluations["reachable"].metadata["not checked"]) == [
        {"cluster": "local-demo", "why": "no API configured"}
    ]
    # nothing observed: the comparisons are not green, and say why
    skew = evaluations["versions_within_skew"]
    assert not skew.passed and skew.severity == dg.AssetCheckSeverity.WARN
    assert skew.description.startswith("0 of 3 clusters checked, because not observed: ")
    assert skew.metadata["checked"].value == 0


def test_recorded_gke_clusters_drive_every_check(example_fleet, recorded_gke):
    result = materialize(example_fleet, recorded_gke)
    assert result.success
    md = metadata(result)
    assert md["reachable"].value == 2 and md["total"].value == 3
    pools = {(r["cluster"], r["pool"]): r for r in rows(md["node pools"])}
    assert pools[("pangeo-hubs", "nb-n2-highmem-4")]["machine type"] == "n2-highmem-4"
    assert pools[("pangeo-hubs", "nb-n2-highmem-4")]["min..max per zone"] == "0..100"
    detail = {r["fact"]: r["value"] for r in rows(md["cluster pangeo-hubs"])}
    assert (detail["release channel"], detail["observed via"]) == ("REGULAR", "GKE API")
    assert rows(md["cluster local-demo"])[-1] == {"fact": "not reachable", "value": "no API configured"}
    assert {r["cluster"]: r["channel"] for r in rows(md["clusters"])}["pangeo-hubs"] == "REGULAR"

    evaluations = checks(result)
    assert evaluations["reachable"].passed  # local-demo has no API: listed, not failed

    skew = evaluations["versions_within_skew"]
    assert not skew.passed and skew.severity == dg.AssetCheckSeverity.ERROR
    assert rows(skew.metadata["problems"]) == [
        {
            "cluster": "community-hubs",
            "problem": "nodes on 1.26.15-gke.1090000 trail the control plane 1.29.15-gke.1325000 by 3 minor versions "
            "(fleet allows 2)",
        }
    ]

    pools = evaluations["declared_node_pools_exist"]
    assert not pools.passed and pools.description.startswith("1 of 3 clusters failed: community-hubs")
    assert {
        "cluster": "community-hubs",
        "problem": "pool nb-n2-standard-4 declared in cluster.yaml node_pools but not in the cluster",
    } in rows(pools.metadata["problems"])

    support = evaluations["upgrades_and_support"]
    assert not support.passed and support.severity == dg.AssetCheckSeverity.WARN
    warnings = [r["warning"] for r in rows(support.metadata["problems"])]
    for expected in (
        "patch upgrade pending: 1.34.1-gke.1829001 -> 1.34.1-gke.2031000",
        "control plane 1.29.15-gke.1325000 is older than the fleet's minimum 1.30",
        "1.29 reached end of standard support on 2025-03-21; extended support ends 2026-12-30",
        "auto-upgrade MINOR_UPGRADE_PAUSED (MAINTENANCE_EXCLUSION_NO_MINOR_UPGRADES)",
    ):
        assert any(expected in warning for warning in warnings), expected


def test_fleet_policy_decides_the_skew(example_fleet, recorded_gke):
    fleet_yaml = example_fleet / "fleet.yaml"
    fleet_yaml.write_text(fleet_yaml.read_text().replace("max_minor_skew: 2", "max_minor_skew: 3"))
    assert checks(materialize(example_fleet, recorded_gke))["versions_within_skew"].passed


def test_a_failed_cluster_status_fails_reachable(example_fleet, recorded_gke, gke_api):
    body = gke_api.clusters[("pangeo-hubs", "us-central1-b", "pangeo-hubs-cluster")]["cluster"]
    body.update(status="ERROR", statusMessage="Node pool core-pool: instance group not found")
    evaluation = checks(materialize(example_fleet, recorded_gke))["reachable"]
    assert not evaluation.passed
    assert {"cluster": "pangeo-hubs", "problem": "status ERROR: Node pool core-pool: instance group not found"} in rows(
        evaluation.metadata["problems"]
    )


def test_node_listing_failure_is_a_note_not_a_failure(example_fleet, recorded_gke, gke_api):
    for key in gke_api.clusters:
        gke_api.clusters[key]["cluster"]["endpoint"] = f"127.0.0.1:{free_port()}"
    result = materialize(example_fleet, recorded_gke, list_nodes=True)
    assert result.success
    notes = [r["value"] for r in rows(metadata(result)["cluster pangeo-hubs"]) if r["fact"] == "note"]
    assert any(n.startswith("nodes not listed (Kubernetes API at 127.0.0.1:") for n in notes), notes
    assert "test-token" not in str(metadata(result))


@pytest.mark.parametrize("env", ["local", "production"])
def test_whole_definitions_resolve_with_the_clusters_domain(env, monkeypatch):
    monkeypatch.setenv("HUB_OPS_ENV", env)
    repo = defs().get_repository_def()
    assert dg.AssetKey("clusters") in repo.assets_defs_by_key
    assert repo.get_job("clusters_refresh_job").name == "clusters_refresh_job"
    assert repo.get_schedule_def("clusters_hourly_schedule").cron_schedule == "17 * * * *"


def test_refresh_job_runs_the_asset_and_its_four_checks(example_fleet, monkeypatch):
    monkeypatch.setenv("HUB_OPS_FLEET", str(example_fleet))
    job = defs().resolve_job_def("clusters_refresh_job")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config={"ops": {"clusters": {"config": {"list_nodes": False}}}}
    )
    assert result.success
    assert sorted(e.check_name for e in result.get_asset_check_evaluations()) == [
        "declared_node_pools_exist",
        "reachable",
        "upgrades_and_support",
        "versions_within_skew",
    ]


def test_a_kubeconfig_that_cannot_be_decrypted_is_the_reason(example_fleet):
    folder = example_fleet / "clusters" / "lab"
    folder.mkdir()
    (folder / "enc-kubeconfig.secret.yaml").write_text("apiVersion: ENC[AES256_GCM,data:x]\nsops:\n  version: 3.11.0\n")
    (folder / "cluster.yaml").write_text(
        "name: lab\nprovider: kubeconfig\nkubeconfig: {file: enc-kubeconfig.secret.yaml}\n"
    )
    lab = {
        r["cluster"]: r for r in rows(metadata(materialize(example_fleet, GkeResource(credentials="none")))["clusters"])
    }
    assert lab["lab"]["status"].startswith(
        "not reachable: cannot decrypt clusters/lab/enc-kubeconfig.secret.yaml: sops exited"
    )


def test_the_2i2c_fleet_gets_one_row_per_cluster(two_i_two_c_copy, gke_api):
    """30 real clusters: gcp ones ask the (recorded) GKE API, which does not know them; aws
    ones and kubeconfig ones have keys/kubeconfigs encrypted with 2i2c's keys."""
    from hub_ops.fleet import load_fleet

    fleet = load_fleet(two_i_two_c_copy, check_files=False)
    result = materialize(
        two_i_two_c_copy, GkeResource(credentials="access_token", access_token="t", api_endpoint=gke_api.endpoint)
    )
    assert result.success
    by_cluster = {r["cluster"]: r["status"] for r in rows(metadata(result)["clusters"])}
    assert set(by_cluster) == set(fleet.clusters) and len(by_cluster) == 30
    gcp = next(c for c in fleet.clusters.values() if c.provider == "gcp")
    assert (
        f"GKE API 404 Not found: projects/{gcp.gcp.project}/locations/{gcp.gcp.zone}/clusters/{gcp.gcp.cluster}."
        in by_cluster[gcp.name]
    )
    assert (
        "cannot decrypt config/clusters/utoronto/enc-deployer-credentials.secret.yaml: sops exited 128"
        in by_cluster["utoronto"]
    )
    aws = [c for c in fleet.clusters.values() if c.provider == "aws"]
    for cluster in aws:
        key = f"config/clusters/{cluster.name}/{cluster.aws.key}"
        assert f"not reachable: cannot decrypt {key}: sops exited 128" in by_cluster[cluster.name]
    reachable = checks(result)["reachable"]
    assert rows(reachable.metadata["not checked"]) == []  # every provider is observed
    assert reachable.description.startswith("30 of 30 clusters failed:")
