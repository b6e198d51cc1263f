"""Azure Kubernetes Service through the Azure SDK (azure-identity, azure-mgmt-containerservice):
a cluster's kubeconfig from ARM (managedClusters listClusterUserCredential, in memory), the
managed cluster itself (version, provisioning and power state, agent pools), its upgrade
profile, and the minors AKS supports in its region (hub_ops.clients.aks_support).

Credentials: the cluster's decrypted service principal (cluster.yaml `azure.key`: tenant,
subscription, client id, secret), held in memory only, with ClientSecretCredential; without a
key, DefaultAzureCredential (workload identity for the hub_ops pods, a service principal's
AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, `az login` at a terminal) and the
subscription from AZURE_SUBSCRIPTION_ID. The kubeconfig of an Entra ID (AAD) cluster names the
`kubelogin` exec plugin: hub_ops runs no plugin, it asks the same credential for a token for
the AKS server application instead (what `kubelogin get-token --login spn|workloadidentity`
does), asked again before it expires. A local-accounts kubeconfig (token, client certificate)
is used as any kubeconfig is. Read-only towards ARM. Secrets and tokens never reach a message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hub_ops.clients import kube
from hub_ops.clients.aks_support import enum_text, support_warning
from hub_ops.fleet.models import Cluster
from hub_ops.fleet.observed import ClusterState, NodePoolState, NodeState, UpgradeState, nodes_per_pool, parse_version
from hub_ops.settings import Settings, get_settings

SOURCE = "AKS API"
ARM_ENDPOINT = "https://management.azure.com"
# the AKS Entra ID server application, the same in every AKS cluster (what `--server-id` names)
AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
# Microsoft's own authority hosts (instance discovery knows them); any other is a private
# authority (Azure Stack, a stand-in) and is used as given
PUBLIC_AUTHORITIES = ("login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us")

# each key field, in the JSON spellings service-principal files come in: `az ad sp
# create-for-rbac --sdk-auth`, its plain output, and snake_case (2i2c's deployer files)
KEY_FIELDS = {
    "tenant": ("tenantId", "tenant", "tenant_id"),
    "subscription": ("subscriptionId", "subscription_id"),
    "client_id": ("clientId", "appId", "client_id", "service_principal_id"),
    "secret": ("clientSecret", "password", "client_secret", "service_principal_password"),
}


class AksError(RuntimeError):
    """AKS, ARM or Entra ID could not be used; the message says why and is safe to show."""


@dataclass(frozen=True)
class ServicePrincipal:
    tenant: str
    client_id: str
    secret: str = field(repr=False)
    subscription: str | None = None


def service_principal(key: dict, key_name: str = "azure.key") -> ServicePrincipal:
    """The service principal in a decrypted key file; AksError naming the file and the
    missing field when one is missing."""
    if not isinstance(key, dict):
        raise AksError(f"{key_name}: expected a JSON object with tenantId, clientId, clientSecret, subscriptionId")
    found: dict[str, str | None] = {}
    for name, spellings in KEY_FIELDS.items():
        found[name] = next((str(key[s]) for s in spellings if key.get(s)), None)
    missing = [KEY_FIELDS[n][0] for n in ("tenant", "client_id", "secret") if not found[n]]
    if missing:
        raise AksError(
            f"{key_name}: missing {', '.join(missing)} (a service principal's JSON, as "
            "`az ad sp create-for-rbac --sdk-auth` prints it)"
        )
    return ServicePrincipal(found["tenant"], found["client_id"], found["secret"], found["subscription"])


def credential_for(principal: ServicePrincipal | None, settings: Settings | None = None):
    """An azure-identity credential: the service principal's, else DefaultAzureCredential.
    AZURE_AUTHORITY_HOST (read by azure-identity) names the Entra ID host; a private one is
    used without Microsoft's instance discovery."""
    from urllib.parse import urlsplit

    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    settings = settings or get_settings()
    host = settings.azure_authority_host
    options: dict[str, Any] = {}
    if host and (urlsplit(host).hostname or host) not in PUBLIC_AUTHORITIES:
        options["disable_instance_discovery"] = True
    if principal is not None:
        return ClientSecretCredential(principal.tenant, principal.client_id, principal.secret, **options)
    return DefaultAzureCredential(exclude_interactive_browser_credential=True, **options)


def describe_error(error: Exception, secret: str | None = None) -> str:
    """A person's sentence for an Azure SDK failure, `secret` removed should it appear."""
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
    from azure.identity import CredentialUnavailableError

    if isinstance(error, AksError | kube.ClusterUnreachable):
        text = str(error)
    elif isinstance(error, CredentialUnavailableError) or (
        # DefaultAzureCredential raises its base class when every credential it tried was unavailable
        isinstance(error, ClientAuthenticationError) and "DefaultAzureCredential failed" in (error.message or "")
    ):
        text = (
            "no Azure credentials: cluster.yaml has no azure.key and DefaultAzureCredential found none "
            "(workload identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, a managed identity, az login)"
        )
    elif isinstance(error, ClientAuthenticationError) and error.status_code in (None, 400, 401):
        text = f"Entra ID refused the credentials: {_first_line(error.message)}"
    elif isinstance(error, HttpResponseError):
        code = getattr(error.error, "code", None) or error.reason
        message = getattr(error.error, "message", None) or _first_line(error.message)
        text = f"ARM answered {error.status_code} {code}: {message}"
    elif isinstance(error, ServiceRequestError):
        text = f"Azure API not reachable: {_first_line(str(error))}"
    else:
        text = f"Azure API failed: {type(error).__name__}"
    return text.replace(secret, "***") if secret else text


def _first_line(text: str | None) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) < 300 else line[:300] + "..."


def _token_source(credential, scope: str) -> kube.TokenSource:
    def source() -> tuple[str, dt.datetime]:
        token = credential.get_token(scope)
        return token.token, dt.datetime.fromtimestamp(token.expires_on, dt.UTC)

    return source


class AksClient:
    """One credential's view of one subscription's AKS clusters."""

    def __init__(self, credential, subscription: str, arm_endpoint: str | None = None):
        from azure.mgmt.containerservice import ContainerServiceClient

        self.credential = credential
        self.arm = ContainerServiceClient(credential, subscription, base_url=arm_endpoint or ARM_ENDPOINT)

    @classmethod
    def for_cluster(cls, cluster: Cluster, key: dict | None, settings: Settings | None = None) -> AksClient:
        settings = settings or get_settings()
        key_name = f"azure.key {cluster.azure.key}"  # the caller names the cluster
        principal = service_principal(key, key_name) if key is not None else None
        subscription = (principal and principal.subscription) or settings.azure_subscription_id
        if not subscription:
            raise AksError(
                f"no Azure subscription: {key_name if key is not None else 'cluster.yaml has no azure.key and'} "
                f"{'has no subscriptionId' if key is not None else 'AZURE_SUBSCRIPTION_ID is not set'}"
            )
        return cls(credential_for(principal, settings), subscription, settings.azure_arm_endpoint)

    def managed_cluster(self, group: str, name: str):
        return self.arm.managed_clusters.get(group, name)

    def upgrade_profile(self, group: str, name: str):
        return self.arm.managed_clusters.get_upgrade_profile(group, name)

    def kubernetes_versions(self, location: str) -> list:
        """The minors AKS supports in `location`, with their support plans (KubernetesVersion models)."""
        return self.arm.managed_clusters.list_kubernetes_versions(location).values_property or []

    def user_kubeconfig(self, group: str, name: str) -> dict:
        """The first kubeconfig listClusterUserCredential returns, parsed, in memory."""
        results = self.arm.managed_clusters.list_cluster_user_credentials(group, name)
        configs = results.kubeconfigs or []
        if not configs or not configs[0].value:
            raise AksError(f"AKS cluster {name}: listClusterUserCredential returned no kubeconfig")
        return kube.load_kubeconfig_doc(bytes(configs[0].value))

    def access(self, group: str, name: str) -> kube.ClusterAccess:
        doc = self.user_kubeconfig(group, name)
        return access_from_aks_kubeconfig(doc, self.credential, f"AKS cluster {name}'s user kubeconfig")


def _server_app(exec_spec: dict) -> str:
    args = [str(a) for a in exec_spec.get("args") or []]
    for i, arg in enumerate(args):
        if arg == "--server-id" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--server-id="):
            return arg.split("=", 1)[1]
    return AKS_SERVER_APP


def access_from_aks_kubeconfig(doc: dict, credential, source: str) -> kube.ClusterAccess:
    """ClusterAccess from an AKS user kubeconfig: an Entra ID cluster's `kubelogin` exec user is
    replaced by the credential's token for the AKS server application (`--server-id`),
    refreshed before it expires; token and client-certificate users are taken as they are."""
    cluster, user = kube.kubeconfig_context(doc, source=source)
    exec_spec = user.get("exec")
    if not isinstance(exec_spec, dict):
        return kube.access_from_kubeconfig_doc(doc, source=source)
    if "kubelogin" not in str(exec_spec.get("command", "")):
        raise AksError(f"{source}: exec plugin {exec_spec.get('command')!r} is not kubelogin; hub_ops runs no plugins")
    scope = f"{_server_app(exec_spec)}/.default"
    return kube.ClusterAccess(
        server=cluster["server"],
        ca_pem=kube.kubeconfig_ca(cluster),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tokens=kube.RefreshingToken(_token_source(credential, scope)),
    )


def cluster_access(cluster: Cluster, key: dict | None = None, settings: Settings | None = None) -> kube.ClusterAccess:
    """How deploys reach an azure cluster's Kubernetes API (hub_ops.clients.clusters calls it).
    Raises ClusterUnreachable with a reason safe to show (never the secret or a token)."""
    azure = cluster.azure
    assert azure is not None, f"{cluster.name}: not an azure cluster"
    try:
        return AksClient.for_cluster(cluster, key, settings).access(azure.resource_group, azure.cluster)
    except Exception as e:  # noqa: BLE001 - any failure is "cannot reach", said plainly
        raise kube.ClusterUnreachable(f"cluster {cluster.name}: {describe_error(e, _secret(key))}") from None


def _secret(key: dict | None) -> str | None:
    if not isinstance(key, dict):
        return None
    return next((str(key[s]) for s in KEY_FIELDS["secret"] if key.get(s)), None)


def observe(
    cluster: Cluster, key: dict | None = None, *, list_nodes: bool = True, settings: Settings | None = None
) -> ClusterState:
    """The state of an azure-provider cluster: provisioning and power state, version, agent
    pools, available upgrades, whether AKS still supports its version, and (list_nodes) node
    counts per pool from its Kubernetes API. Never raises for an API error: comes back
    reachable=False and why."""
    azure = cluster.azure
    assert azure is not None, f"{cluster.name}: not an azure cluster"
    try:
        client = AksClient.for_cluster(cluster, key, settings)
        managed = client.managed_cluster(azure.resource_group, azure.cluster)
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable", said plainly
        return ClusterState.unreachable(cluster, SOURCE, describe_error(e, _secret(key)))
    notes: list[str] = []
    try:
        profile = client.upgrade_profile(azure.resource_group, azure.cluster)
    except Exception as e:  # noqa: BLE001 - optional: a narrower role may lack it
        profile = None
        notes.append(f"upgrade profile not fetched: {describe_error(e, _secret(key))}")
    try:
        versions = client.kubernetes_versions(managed.location)
    except Exception as e:  # noqa: BLE001 - optional, as the upgrade profile
        versions = None
        notes.append(f"supported versions not fetched: {describe_error(e, _secret(key))}")
    nodes = None
    if list_nodes:
        from hub_ops.clients.kube_observe import list_nodes_or_note

        def api():
            return client.access(azure.resource_group, azure.cluster).api_client()

        nodes = list_nodes_or_note(api, managed.fqdn or managed.private_fqdn, notes)
    return cluster_state(cluster, managed, profile, nodes, notes, versions)


# auto-upgrade channels that move the control plane on their own, and to what
_CHANNEL_MOVES_MINOR = {"stable": True, "rapid": True, "patch": False}


def cluster_state(
    cluster: Cluster, managed, profile, nodes: list[NodeState] | None, notes=None, versions=None
) -> ClusterState:
    """Turn AKS's answers (SDK models) and the nodes, when listed, into a ClusterState. Status:
    the provisioning state, STOPPED when the cluster is powered off. Available upgrades are
    notes; with an auto-upgrade channel set, the upgrade it will make is the pending target.
    `versions` (the region's supported minors), when fetched, say whether support ended or
    ends next (aks_support)."""
    notes = list(notes or [])
    per_pool = nodes_per_pool(nodes)
    pools = [
        NodePoolState(
            name=p.name,
            version=p.current_orchestrator_version or p.orchestrator_version,
            status=", ".join(x for x in (p.provisioning_state, enum_text(p.power_state and p.power_state.code)) if x)
            or None,
            machine_type=p.vm_size,
            autoscaling=bool(p.enable_auto_scaling),
            min_nodes=p.min_count,
            max_nodes=p.max_count,
            node_count=per_pool.get(p.name, 0) if nodes is not None else None,
            mode=enum_text(p.mode),
        )
        for p in managed.agent_pool_profiles or []
    ]
    version = managed.current_kubernetes_version or managed.kubernetes_version
    power = enum_text(managed.power_state and managed.power_state.code)
    status = "STOPPED" if power == "Stopped" else (managed.provisioning_state or "").upper() or None
    channel = enum_text(managed.auto_upgrade_profile and managed.auto_upgrade_profile.upgrade_channel)
    upgrade = None
    if profile is not None and profile.control_plane_profile is not None:
        upgrade = _upgrade_state(version, profile.control_plane_profile.upgrades or [], channel, notes)
    if versions is not None:
        upgrade = upgrade or UpgradeState()
        upgrade.support_warning = support_warning(version, managed.support_plan, managed.location, versions)
    return ClusterState(
        cluster=cluster.name,
        provider=cluster.provider,
        source=SOURCE,
        reachable=True,
        status=status,
        status_message=f"provisioning {managed.provisioning_state}, power {power or 'unknown'}",
        master_version=version,
        release_channel=f"auto-upgrade {channel}" if channel and channel != "none" else "auto-upgrade none",
        node_pools=pools,
        nodes=nodes,
        node_count=len(nodes) if nodes is not None else sum(p.count or 0 for p in managed.agent_pool_profiles or []),
        upgrade=upgrade,
        notes=notes,
    )


def _upgrade_state(version: str | None, upgrades, channel: str | None, notes: list[str]) -> UpgradeState:
    current = parse_version(version)
    listed = sorted(
        ((parse_version(u.kubernetes_version), u.kubernetes_version, bool(u.is_preview)) for u in upgrades),
        key=lambda t: t[0] or (0, 0, 0, 0),
    )
    if listed:
        notes.append(
            "available upgrades: "
            + ", ".join(f"{text}{' (preview)' if preview else ''}" for _parsed, text, preview in listed)
        )
    stable = [(parsed, text) for parsed, text, preview in listed if parsed and not preview]
    patch = [text for parsed, text in stable if current and parsed[:2] == current[:2]]
    minor = [text for parsed, text in stable if current and parsed[:2] > current[:2]]
    state = UpgradeState()
    if channel in _CHANNEL_MOVES_MINOR:
        state.patch_target_version = patch[-1] if patch else None
        state.minor_target_version = minor[-1] if minor and _CHANNEL_MOVES_MINOR[channel] else None
    return state
