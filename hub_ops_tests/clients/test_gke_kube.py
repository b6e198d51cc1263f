"""GkeClient's way into a cluster's Kubernetes API (endpoint + CA from the GKE API, a bearer
token from the credentials), over real TLS to the local kube-apiserver. The GKE answers are
recorded response shapes (not live; see hub_ops_tests/gke_recorded.py) whose endpoint and
CA are pointed at the local apiserver."""

import base64

from google.oauth2.credentials import Credentials
from kubernetes import client

from hub_ops.clients.gke import GkeClient
from hub_ops.fleet import load_fleet

CLUSTER_KEY = ("pangeo-hubs", "us-central1-b", "pangeo-hubs-cluster")


def point_at_local_apiserver(gke_api, kube_cluster, ca_pem: bytes | None = None) -> None:
    body = gke_api.clusters[CLUSTER_KEY]["cluster"]
    body["endpoint"] = f"127.0.0.1:{kube_cluster.api_port}"
    ca = ca_pem if ca_pem is not None else (kube_cluster.pki / "ca.crt").read_bytes()
    body["masterAuth"]["clusterCaCertificate"] = base64.b64encode(ca).decode()


def test_kube_configuration_reaches_the_cluster_with_its_ca_and_token(gke_api, kube_cluster):
    point_at_local_apiserver(gke_api, kube_cluster)
    gke = GkeClient(Credentials(token=kube_cluster.token), api_endpoint=gke_api.endpoint)
    config = gke.kube_configuration(gke.get_cluster(*CLUSTER_KEY))
    with client.ApiClient(config) as api:
        assert client.VersionApi(api).get_code().git_version.startswith("v1.20.")


def test_observe_counts_nodes_per_gke_pool(gke_api, kube_cluster, kube_nodes, example_fleet):
    """Node pool names come from the GKE API; node counts from the nodes' gke-nodepool label."""
    pools = gke_api.clusters[CLUSTER_KEY]["nodePools"]["nodePools"]
    for pool in pools:  # unique names: nodes are cluster-wide on the shared test apiserver
        pool["name"] = kube_nodes.pool(pool["name"])
    point_at_local_apiserver(gke_api, kube_cluster)
    core, users, _dask = (p["name"] for p in pools)
    kube_nodes.add("core-1", "v1.20.2", pool=core)
    kube_nodes.add("user-1", "v1.20.2", pool=users)
    kube_nodes.add("user-2", "v1.20.2", pool=users)

    gke = GkeClient(Credentials(token=kube_cluster.token), api_endpoint=gke_api.endpoint)
    state = gke.observe(load_fleet(example_fleet, check_files=False).clusters["pangeo-hubs"])

    assert state.notes == []
    assert [(p.name, p.node_count) for p in state.node_pools] == [(core, 1), (users, 2), (_dask, 0)]
    assert kube_cluster.token not in repr(state)


def test_a_wrong_ca_is_refused_and_noted(gke_api, kube_cluster, example_fleet):
    point_at_local_apiserver(
        gke_api,
        kube_cluster,
        ca_pem=base64.b64decode(
            gke_api.clusters[("community-hubs-2024", "us-west1", "community-cluster")]["cluster"]["masterAuth"][
                "clusterCaCertificate"
            ]
        ),
    )
    gke = GkeClient(Credentials(token=kube_cluster.token), api_endpoint=gke_api.endpoint)
    state = gke.observe(load_fleet(example_fleet, check_files=False).clusters["pangeo-hubs"])
    assert state.reachable  # the GKE API answered
    assert len(state.notes) == 1 and state.notes[0].startswith(
        f"nodes not listed (Kubernetes API at 127.0.0.1:{kube_cluster.api_port})"
    )
    assert all(p.node_count is None for p in state.node_pools)


def test_cluster_access_for_deploys_reaches_the_cluster(gke_api, kube_cluster, example_fleet):
    """What hub_ops.clients.clusters uses for gcp clusters: a ClusterAccess whose client works."""
    from hub_ops.clients.gke import cluster_access

    point_at_local_apiserver(gke_api, kube_cluster)
    cluster = load_fleet(example_fleet, check_files=False).clusters["pangeo-hubs"]
    access = cluster_access(cluster, credentials=Credentials(token=kube_cluster.token), api_endpoint=gke_api.endpoint)
    assert access.server == f"https://127.0.0.1:{kube_cluster.api_port}"
    with access.api_client() as api:
        assert client.VersionApi(api).get_code().git_version.startswith("v1.20.")


def test_cluster_access_errors_are_clear_and_keep_secrets_out(gke_api, example_fleet):
    import pytest

    from hub_ops.clients.gke import cluster_access
    from hub_ops.clients.kube import ClusterUnreachable

    cluster = load_fleet(example_fleet, check_files=False).clusters["pangeo-hubs"]
    key = {"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nSECRET\n-----END PRIVATE KEY-----\n"}
    with pytest.raises(ClusterUnreachable) as error:
        cluster_access(cluster, key, api_endpoint=gke_api.endpoint)
    assert str(error.value).startswith(
        "cluster pangeo-hubs: service account key enc-deployer-credentials.secret.json unusable:"
    )
    assert "SECRET" not in str(error.value)

    cluster.gcp.cluster = "gone"
    with pytest.raises(
        ClusterUnreachable,
        match=r"^cluster pangeo-hubs: GKE API 404 Not found: projects/pangeo-hubs/locations/us-central1-b/clusters/gone\.$",
    ):
        cluster_access(cluster, credentials=Credentials(token="t"), api_endpoint=gke_api.endpoint)
