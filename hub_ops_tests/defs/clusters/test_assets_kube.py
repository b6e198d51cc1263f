"""The clusters asset with a `local` cluster whose kubeconfig reaches the local
kube-apiserver 1.20 (real API); the gcp clusters read recorded GKE shapes (not live)."""

import dagster as dg
import yaml

from hub_ops.defs.clusters.resources import GkeResource
from hub_ops_tests.defs.clusters.test_assets import checks, materialize, metadata
from hub_ops_tests.tables import rows


def give_local_demo_a_kubeconfig(fleet_root, kubeconfig) -> None:
    path = fleet_root / "clusters" / "local-demo" / "cluster.yaml"
    config = yaml.safe_load(path.read_text())
    config["local"]["kubeconfig"] = str(kubeconfig)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_local_cluster_observed_through_its_kubeconfig(example_fleet, kube_cluster, kube_nodes):
    kube_nodes.add("n1", "v1.20.2", pool=kube_nodes.pool("core"))
    give_local_demo_a_kubeconfig(example_fleet, kube_cluster.kubeconfig)

    result = materialize(example_fleet, GkeResource(credentials="none"))

    assert result.success
    local = {r["fact"]: r["value"] for r in rows(metadata(result)["cluster local-demo"])}
    assert local["observed via"] == "Kubernetes API" and local["nodes run"] == "v1.20.2"
    assert ("local-demo", kube_nodes.pool("core")) in {
        (r["cluster"], r["pool"]) for r in rows(metadata(result)["node pools"])
    }
    evaluations = checks(result)
    # reachable now covers local-demo; the gcp clusters still have no credentials
    assert "local-demo" not in {r["cluster"] for r in rows(evaluations["reachable"].metadata["problems"])}
    support = evaluations["upgrades_and_support"]
    assert not support.passed and support.severity == dg.AssetCheckSeverity.WARN
    assert any(
        "is older than the fleet's minimum 1.30 (end of support)" in r["warning"]
        for r in rows(support.metadata["problems"])
        if r["cluster"] == "local-demo"
    )
    skew = evaluations["versions_within_skew"]
    assert skew.metadata["checked"].value == 1 and skew.passed
    assert "1 of 3 clusters checked" in skew.description


def test_declared_pools_checked_against_node_labels(example_fleet, kube_cluster, kube_nodes):
    present = kube_nodes.pool("core")
    kube_nodes.add("n1", "v1.20.2", pool=present)
    give_local_demo_a_kubeconfig(example_fleet, kube_cluster.kubeconfig)
    path = example_fleet / "clusters" / "local-demo" / "cluster.yaml"
    config = yaml.safe_load(path.read_text())
    config["node_pools"] = [present, kube_nodes.pool("gpu")]
    path.write_text(yaml.safe_dump(config, sort_keys=False))

    evaluation = checks(materialize(example_fleet, GkeResource(credentials="none")))["declared_node_pools_exist"]
    assert not evaluation.passed
    assert rows(evaluation.metadata["problems"]) == [
        {
            "cluster": "local-demo",
            "problem": f"pool {kube_nodes.pool('gpu')} declared in cluster.yaml node_pools but not in the cluster",
        }
    ]


def test_kubeconfig_cluster_with_a_sops_encrypted_kubeconfig(example_fleet, kube_cluster, kube_nodes, age_key):
    """provider kubeconfig, as 2i2c's utoronto: the kubeconfig is decrypted in memory (sops,
    the test's age key) and the cluster observed through it, as deploys reach it."""
    kube_nodes.add("n1", "v1.20.2", pool=kube_nodes.pool("core"))
    folder = example_fleet / "clusters" / "lab"
    folder.mkdir()
    secret = folder / "enc-deployer-credentials.secret.yaml"
    secret.write_text(kube_cluster.kubeconfig.read_text())
    age_key.encrypt(secret)
    assert kube_cluster.token not in secret.read_text()
    (folder / "cluster.yaml").write_text(
        "name: lab\nprovider: kubeconfig\nkubeconfig: {file: enc-deployer-credentials.secret.yaml}\n"
    )
    result = materialize(example_fleet, GkeResource(credentials="none"), age_key_file=str(age_key.path))
    lab = {r["fact"]: r["value"] for r in rows(metadata(result)["cluster lab"])}
    assert lab["observed via"] == "Kubernetes API" and lab["control plane"].startswith("v1.20.")
    assert kube_cluster.token not in repr(metadata(result))
