"""Google Kubernetes Engine through google-cloud-container's ClusterManagerClient.

Credentials: Application Default Credentials (workload identity on the hub_ops pod, a
key file named by GOOGLE_APPLICATION_CREDENTIALS, or `gcloud auth application-default
login`), or any google.auth Credentials given. The REST transport is used (requests, no
gRPC channel to manage in forked run workers); tests point `api_endpoint` at a loopback
server that answers with recorded GKE response shapes.

Read-only: nothing here changes a cluster. Tokens never go into messages or exceptions.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import TYPE_CHECKING

import google.auth
import google.auth._helpers
import google.auth.exceptions
import google.auth.transport.requests
from google.api_core import exceptions as api_exceptions
from google.cloud import container_v1

from hub_ops.clients import kube
from hub_ops.fleet.models import Cluster
from hub_ops.fleet.observed import ClusterState, NodePoolState, NodeState, UpgradeState, nodes_per_pool

if TYPE_CHECKING:  # importing kubernetes costs seconds: the definitions load without it
    from kubernetes import client as k8s

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SOURCE = "GKE API"


class GkeError(RuntimeError):
    """The GKE API could not be used; the message says why and is safe to show."""


class GkeCredentialsError(GkeError):
    pass


def application_default_credentials() -> google.auth.credentials.Credentials:
    """ADC with the cloud-platform scope; GkeCredentialsError (no stack of google.auth's
    search) when there are none."""
    try:
        credentials, _project = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except google.auth.exceptions.DefaultCredentialsError:
        raise GkeCredentialsError(
            "no credentials: no Application Default Credentials found (workload identity, "
            "GOOGLE_APPLICATION_CREDENTIALS, or `gcloud auth application-default login`)"
        ) from None
    return credentials


def cluster_name(project: str, location: str, cluster: str) -> str:
    """The API's resource name; `location` is a zone or a region (regional clusters)."""
    return f"projects/{project}/locations/{location}/clusters/{cluster}"


def _describe(error: Exception) -> str:
    if isinstance(error, api_exceptions.GoogleAPICallError):
        # REST errors read "GET <url>: <message>": the URL adds nothing a person needs
        message = error.message.split(": ", 1)[-1] if error.message.startswith(("GET ", "POST ")) else error.message
        return f"GKE API {error.code or ''} {message}".replace("  ", " ").strip()
    if isinstance(error, google.auth.exceptions.GoogleAuthError):
        return f"credentials rejected: {type(error).__name__}"
    return f"GKE API not reachable: {type(error).__name__}: {error}"


class GkeClient:
    """get_cluster / list_node_pools / fetch_cluster_upgrade_info, plus what deploys need to
    reach a cluster's Kubernetes API (kube_configuration)."""

    def __init__(
        self,
        credentials: google.auth.credentials.Credentials | None = None,
        *,
        api_endpoint: str | None = None,
        timeout: float = 30.0,
        transport: str | container_v1.services.cluster_manager.transports.ClusterManagerTransport = "rest",
    ):
        """`credentials`: None = Application Default Credentials. `api_endpoint` and `transport`
        are for tests and odd networks (a ready-made transport carries its own credentials)."""
        self.credentials = credentials if credentials is not None else application_default_credentials()
        self.timeout = timeout
        self._client = container_v1.ClusterManagerClient(
            credentials=None if not isinstance(transport, str) else self.credentials,
            transport=transport,
            client_options={"api_endpoint": api_endpoint} if api_endpoint else None,
        )

    def get_cluster(self, project: str, location: str, cluster: str) -> container_v1.Cluster:
        return self._client.get_cluster(name=cluster_name(project, location, cluster), timeout=self.timeout)

    def list_node_pools(self, project: str, location: str, cluster: str) -> list[container_v1.NodePool]:
        response = self._client.list_node_pools(parent=cluster_name(project, location, cluster), timeout=self.timeout)
        return list(response.node_pools)

    def fetch_cluster_upgrade_info(self, project: str, location: str, cluster: str) -> container_v1.ClusterUpgradeInfo:
        request = container_v1.FetchClusterUpgradeInfoRequest(name=cluster_name(project, location, cluster))
        return self._client.fetch_cluster_upgrade_info(request=request, timeout=self.timeout)

    def access_token(self) -> str:
        """A current OAuth access token of the client's credentials (refreshed if needed)."""
        return self.token_with_expiry()[0]

    def token_with_expiry(self) -> tuple[str, dt.datetime | None]:
        """A kube.TokenSource: a current access token, and the moment google-auth itself
        stops trusting it (its expiry less google-auth's refresh threshold)."""
        if not self.credentials.valid:
            self.credentials.refresh(google.auth.transport.requests.Request())
        if not self.credentials.token:
            raise GkeCredentialsError("the credentials carry no access token")
        expiry = self.credentials.expiry
        if expiry is None:
            return self.credentials.token, None
        return self.credentials.token, expiry.replace(tzinfo=dt.UTC) - google.auth._helpers.REFRESH_THRESHOLD

    def kube_configuration(self, cluster: container_v1.Cluster) -> k8s.Configuration:
        """A kubernetes Configuration for `cluster`'s API server: its endpoint and CA from the
        GKE API, a bearer token from these credentials, asked again before it expires (long
        deploys). The CA is written once to a file named by its digest (idempotent)."""
        config = kube_configuration(cluster.endpoint, cluster.master_auth.cluster_ca_certificate, self.access_token())

        def refresh(configuration: k8s.Configuration) -> None:  # google-auth refreshes when due
            configuration.api_key.update(dict.fromkeys(kube.BEARER_KEYS, self.access_token()))

        config.refresh_api_key_hook = refresh
        return config

    def observe(self, cluster: Cluster, *, list_nodes: bool = True) -> ClusterState:
        """The state of a gcp-provider cluster: status, versions, channel, pools, upgrade
        info, and (list_nodes) node counts per pool from its Kubernetes API. Never raises
        for an API error: an unreachable cluster comes back with reachable=False and why."""
        gcp = cluster.gcp
        assert gcp is not None, f"{cluster.name}: not a gcp cluster"
        try:
            observed = self.get_cluster(gcp.project, gcp.zone, gcp.cluster)
            pools = self.list_node_pools(gcp.project, gcp.zone, gcp.cluster)
        except Exception as e:  # noqa: BLE001 - any failure means "not reachable", said plainly
            return ClusterState.unreachable(cluster, SOURCE, _describe(e))
        notes = []
        try:
            upgrade = self.fetch_cluster_upgrade_info(gcp.project, gcp.zone, gcp.cluster)
        except Exception as e:  # noqa: BLE001 - optional: older permissions lack it
            upgrade = None
            notes.append(f"upgrade info not fetched: {_describe(e)}")
        nodes = None
        if list_nodes:
            from kubernetes import client as k8s

            from hub_ops.clients.kube_observe import list_nodes_or_note

            nodes = list_nodes_or_note(
                lambda: k8s.ApiClient(self.kube_configuration(observed)), observed.endpoint, notes
            )
        return cluster_state(cluster, observed, pools, upgrade, nodes, notes)


def _date(timestamp: str | None) -> dt.date | None:
    if not timestamp:
        return None
    try:
        return dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).date()
    except ValueError:
        return dt.date.fromisoformat(timestamp[:10])


def upgrade_state(info: container_v1.ClusterUpgradeInfo) -> UpgradeState:
    running = [
        f"{d.initial_version} -> {d.target_version} ({d.start_type.name})"
        for d in info.upgrade_details
        if d.state == container_v1.UpgradeDetails.State.RUNNING
    ]
    return UpgradeState(
        minor_target_version=info.minor_target_version or None,
        patch_target_version=info.patch_target_version or None,
        auto_upgrade_status=[s.name for s in info.auto_upgrade_status],
        paused_reason=[r.name for r in info.paused_reason],
        running=running,
        end_of_standard_support=_date(info.end_of_standard_support_timestamp),
        end_of_extended_support=_date(info.end_of_extended_support_timestamp),
    )


def cluster_state(
    cluster: Cluster,
    observed: container_v1.Cluster,
    pools: list[container_v1.NodePool],
    upgrade: container_v1.ClusterUpgradeInfo | None,
    nodes: list[NodeState] | None,
    notes: list[str] | None = None,
) -> ClusterState:
    """Turn GKE API answers (and the nodes, when listed) into a ClusterState."""
    per_pool = nodes_per_pool(nodes)
    pool_states = [
        NodePoolState(
            name=p.name,
            version=p.version or None,
            status=p.status.name,
            machine_type=p.config.machine_type or None,
            autoscaling=bool(p.autoscaling.enabled),
            min_nodes=p.autoscaling.min_node_count if p.autoscaling.enabled else None,
            max_nodes=p.autoscaling.max_node_count if p.autoscaling.enabled else None,
            node_count=per_pool.get(p.name, 0) if nodes is not None else None,
        )
        for p in pools
    ]
    channel = observed.release_channel.channel
    return ClusterState(
        cluster=cluster.name,
        provider=cluster.provider,
        source=SOURCE,
        reachable=True,
        status=observed.status.name,
        status_message=observed.status_message or None,
        master_version=observed.current_master_version or None,
        release_channel=channel.name if channel else "none (static version)",
        node_pools=pool_states,
        nodes=nodes,
        node_count=len(nodes) if nodes is not None else (observed.current_node_count or None),
        upgrade=upgrade_state(upgrade) if upgrade is not None else None,
        notes=list(notes or []),
    )


def kube_configuration(endpoint: str, ca_certificate_b64: str, token: str) -> k8s.Configuration:
    """A kubernetes Configuration for a GKE API server: `endpoint` (host or host:port), the
    base64 PEM CA the GKE API gives, a bearer token (see resources.kube.kube_configuration)."""
    return kube.kube_configuration(endpoint, base64.b64decode(ca_certificate_b64), token)


def cluster_access(cluster: Cluster, key: dict | None = None, *, credentials=None, api_endpoint: str | None = None):
    """How deploys reach a gcp cluster's Kubernetes API (hub_ops.clients.clusters calls it):
    endpoint and CA from the GKE API, and a bearer token of the cluster's decrypted service
    account key (cluster.yaml `gcp.key`) when given, else of Application Default Credentials.

    Raises ClusterUnreachable with a reason safe to show (never the key or the token). The
    token is an OAuth access token that lasts about an hour: the access asks the credentials
    for a new one before it expires, so steps longer than that keep working.
    """
    gcp = cluster.gcp
    assert gcp is not None, f"{cluster.name}: not a gcp cluster"
    try:
        if credentials is None and key is not None:
            from google.oauth2 import service_account

            try:
                credentials = service_account.Credentials.from_service_account_info(key, scopes=[CLOUD_PLATFORM_SCOPE])
            except (ValueError, KeyError) as e:  # the message names missing fields, not their values
                raise GkeCredentialsError(f"service account key {gcp.key} unusable: {e}") from None
        client = GkeClient(credentials, api_endpoint=api_endpoint)
        observed = client.get_cluster(gcp.project, gcp.zone, gcp.cluster)
        client.token_with_expiry()  # fail here, with the reason, rather than on the first API call
    except Exception as e:  # noqa: BLE001 - any failure is "cannot reach", said plainly
        raise kube.ClusterUnreachable(
            f"cluster {cluster.name}: {e if isinstance(e, GkeError) else _describe(e)}"
        ) from None
    endpoint = observed.endpoint
    return kube.ClusterAccess(
        server=endpoint if endpoint.startswith("https://") else f"https://{endpoint}",
        tokens=kube.RefreshingToken(client.token_with_expiry),
        ca_pem=base64.b64decode(observed.master_auth.cluster_ca_certificate).decode(),
    )
