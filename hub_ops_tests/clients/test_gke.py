"""GkeClient against recorded GKE v1 response shapes (not live: no GKE runs here).

The real google-cloud-container ClusterManagerClient (REST transport) talks HTTP to a
loopback server (hub_ops_tests/gke_recorded.py) that answers with JSON bodies shaped
exactly as projects.locations.clusters.get, nodePools.list and fetchClusterUpgradeInfo
return them (hub_ops_tests/data/gke/README.md). The kube_configuration helper is tested
over real TLS against the local kube-apiserver in test_gke_kube.py.
"""

import base64
import datetime as dt
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials

from hub_ops.clients.gke import GkeClient, GkeCredentialsError, application_default_credentials, kube_configuration
from hub_ops.fleet import load_fleet
from hub_ops_dev.stack.process import free_port
from hub_ops_tests.gke_recorded import recorded

TOKEN = "ya29.test-token-never-logged"


@pytest.fixture
def client(gke_api) -> GkeClient:
    return GkeClient(Credentials(token=TOKEN), api_endpoint=gke_api.endpoint, timeout=10)


@pytest.fixture
def fleet(example_fleet):
    return load_fleet(example_fleet, check_files=False)


def test_get_cluster_parses_the_recorded_shape(client, gke_api):
    cluster = client.get_cluster("pangeo-hubs", "us-central1-b", "pangeo-hubs-cluster")
    assert cluster.name == "pangeo-hubs-cluster"
    assert cluster.current_master_version == "1.34.1-gke.1829001"
    assert cluster.status.name == "RUNNING"
    assert cluster.release_channel.channel.name == "REGULAR"
    assert cluster.endpoint == "34.69.12.201"
    assert [p.name for p in cluster.node_pools] == ["core-pool", "nb-n2-highmem-4", "dask-n2-highmem-16"]
    assert gke_api.requests[-1] == {
        "method": "GET",
        "bearer": TOKEN,
        "enums": "int",
        "path": "/v1/projects/pangeo-hubs/locations/us-central1-b/clusters/pangeo-hubs-cluster",
    }


def test_list_node_pools_reads_machine_type_and_autoscaling(client):
    pools = client.list_node_pools("community-hubs-2024", "us-west1", "community-cluster")
    summary = [
        (
            p.name,
            p.config.machine_type,
            p.autoscaling.enabled,
            p.autoscaling.min_node_count,
            p.autoscaling.max_node_count,
            p.version,
            p.status.name,
        )
        for p in pools
    ]
    assert summary == [
        ("core-pool", "n2-highcpu-4", True, 1, 3, "1.26.15-gke.1090000", "RUNNING"),
        ("nb-n2-standard-8", "n2-standard-8", True, 0, 40, "1.29.15-gke.1325000", "RECONCILING"),
    ]


def test_fetch_cluster_upgrade_info(client):
    info = client.fetch_cluster_upgrade_info("community-hubs-2024", "us-west1", "community-cluster")
    assert [s.name for s in info.auto_upgrade_status] == ["MINOR_UPGRADE_PAUSED"]
    assert info.minor_target_version == "1.30.14-gke.1150000"
    assert info.end_of_standard_support_timestamp == "2025-03-21T00:00:00Z"
    assert info.upgrade_details[0].state.name == "RUNNING"


def test_observe_a_healthy_cluster(client, fleet, gke_api):
    # the recorded endpoint is a public IP: point it at a closed loopback port so the
    # node listing fails fast, as it does for a private endpoint
    gke_api.clusters[("pangeo-hubs", "us-central1-b", "pangeo-hubs-cluster")]["cluster"]["endpoint"] = (
        f"127.0.0.1:{free_port()}"
    )
    state = client.observe(fleet.clusters["pangeo-hubs"])
    assert state.reachable and state.source == "GKE API"
    assert (state.status, state.master_version, state.release_channel) == ("RUNNING", "1.34.1-gke.1829001", "REGULAR")
    assert state.node_count == 4  # currentNodeCount: the nodes were not listed
    assert [(p.name, p.machine_type, p.min_nodes, p.max_nodes, p.node_count) for p in state.node_pools] == [
        ("core-pool", "n2-highcpu-4", 1, 5, None),
        ("nb-n2-highmem-4", "n2-highmem-4", 0, 100, None),
        ("dask-n2-highmem-16", "n2-highmem-16", 0, 200, None),
    ]
    assert state.upgrade.patch_target_version == "1.34.1-gke.2031000"
    assert state.upgrade.end_of_standard_support == dt.date(2027, 10, 4)
    assert len(state.notes) == 1 and state.notes[0].startswith("nodes not listed (Kubernetes API at 127.0.0.1:")
    assert TOKEN not in repr(state)


def test_observe_an_unknown_cluster_is_not_reachable_with_gke_404(client, fleet):
    cluster = fleet.clusters["pangeo-hubs"]
    cluster.gcp.cluster = "no-such-cluster"
    state = client.observe(cluster, list_nodes=False)
    assert not state.reachable
    assert (
        state.reason == "GKE API 404 Not found: projects/pangeo-hubs/locations/us-central1-b/clusters/no-such-cluster."
    )


def test_upgrade_info_denied_leaves_the_rest_observed(client, fleet, gke_api):
    gke_api.clusters[("pangeo-hubs", "us-central1-b", "pangeo-hubs-cluster")]["upgradeInfo"] = None
    state = client.observe(fleet.clusters["pangeo-hubs"], list_nodes=False)
    assert state.reachable and state.upgrade is None
    assert state.notes == [
        "upgrade info not fetched: GKE API 403 Permission 'container.clusters.get' denied on "
        "'projects/pangeo-hubs/locations/us-central1-b/clusters/pangeo-hubs-cluster'"
    ]


def test_api_down_is_not_reachable_not_an_exception(fleet):
    client = GkeClient(Credentials(token=TOKEN), api_endpoint=f"http://127.0.0.1:{free_port()}", timeout=3)
    state = client.observe(fleet.clusters["pangeo-hubs"], list_nodes=False)
    assert not state.reachable and state.reason.startswith("GKE API")
    assert TOKEN not in state.reason


def test_no_application_default_credentials_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(GkeCredentialsError, match="^no credentials: no Application Default Credentials found"):
        application_default_credentials()


def test_kube_configuration_writes_the_ca_once_and_sets_a_bearer_token():
    ca_b64 = recorded("pangeo-hubs", "cluster")["masterAuth"]["clusterCaCertificate"]
    first = kube_configuration("34.69.12.201", ca_b64, TOKEN)
    second = kube_configuration("34.69.12.201", ca_b64, "another")
    assert first.host == "https://34.69.12.201"
    assert first.ssl_ca_cert == second.ssl_ca_cert
    assert Path(first.ssl_ca_cert).read_bytes() == base64.b64decode(ca_b64)
    # what the client puts in the Authorization header
    assert first.auth_settings()["BearerToken"]["value"] == f"Bearer {TOKEN}"


def test_client_kube_configuration_refreshes_its_token(client):
    cluster = client.get_cluster("pangeo-hubs", "us-central1-b", "pangeo-hubs-cluster")
    config = client.kube_configuration(cluster)
    client.credentials.token = "rotated"  # what a refresh of the credentials leaves behind
    assert config.auth_settings()["BearerToken"]["value"] == "Bearer rotated"


def test_a_ready_made_transport_is_used_as_given(gke_api):
    from google.cloud.container_v1.services.cluster_manager.transports import ClusterManagerRestTransport

    transport = ClusterManagerRestTransport(host=gke_api.endpoint, credentials=Credentials(token="transport-token"))
    client = GkeClient(Credentials(token=TOKEN), transport=transport)
    assert client.get_cluster("pangeo-hubs", "us-central1-b", "pangeo-hubs-cluster").status.name == "RUNNING"
    assert gke_api.requests[-1]["bearer"] == "transport-token"
