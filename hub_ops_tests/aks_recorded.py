"""AKS's ARM answers as recorded response SHAPES, not live answers: no AKS control plane runs
here. hub_ops_dev/stack/aks.py serves them over HTTPS to the real Azure SDK.

Sources (field names, nesting and value forms; our values where the fleet needs its own):
- managedClusters GET: the REST API example `ManagedClustersGet.json` and
  `ManagedClustersCreate_UpdateWithEnableAzureRBAC.json` (aadProfile) of
  Azure/azure-rest-api-specs, specification/containerservice/resource-manager/
  Microsoft.ContainerService/aks/stable/2024-09-01/examples/, with the fields those examples
  leave out (powerState, enableAutoScaling, minCount, maxCount, mode, autoUpgradeProfile) as a
  real `az aks show` of a four-pool cluster prints them (the ManagedCluster and
  ManagedClusterAgentPoolProfile definitions of the same spec name them so).
- upgradeProfiles/default: `ManagedClustersGetUpgradeProfile.json` (same folder).
- locations/{location}/kubernetesVersions GET: the REST API reference "Managed Clusters - List
  Kubernetes Versions" (api-version 2024-02-01, learn.microsoft.com/rest/api/aks) and its
  sample response: {"values": [{"version": "1.23", "capabilities": {"supportPlan":
  ["KubernetesOfficial", ...]}, "isDefault"?, "isPreview"?, "patchVersions": {"1.23.12":
  {"upgrades": [...]}}}]}; KubernetesVersion and KubernetesSupportPlan of the SDK name the same
  fields. Recorded shape, our minors (so the stack's 1.20 apiserver can be placed in it).
- listClusterUserCredential: `ManagedClustersListClusterUserCredentials.json` (same folder):
  {"kubeconfigs": [{"name", "value": base64 kubeconfig}]}; the kubeconfig of an Entra ID
  (AAD) cluster is what AKS returns for one (a `kubelogin get-token` exec user with the AKS
  server application id 6dae42f8-4368-4678-94ff-3960e28e3630 and the Azure CLI's client id
  80faf920-1908-4b52-b5ef-a8e7bedfc67a); a local-accounts cluster's user carries
  client-certificate-data, client-key-data and a token.
"""

from __future__ import annotations

import base64

import yaml

AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
AZURE_CLI_CLIENT = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"

# pool -> (vmSize, count, enableAutoScaling, minCount, maxCount, mode, orchestratorVersion)
POOLS = {
    "core": ("Standard_E4s_v5", 2, True, 1, 3, "System", "1.20.2"),
    "nbuser": ("Standard_E8s_v5", 0, True, 0, 100, "User", "1.19.16"),
}
# the control plane's upgrades: (version, isPreview)
UPGRADES = [("1.20.15", False), ("1.21.14", False), ("1.22.6", True)]


def _arm_id(subscription: str, group: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourcegroups/{group}/providers/Microsoft.ContainerService/managedClusters/{name}"


def managed_cluster(
    subscription: str,
    group: str,
    name: str,
    *,
    version: str = "1.20.2",
    provisioning: str = "Succeeded",
    power: str = "Running",
    aad_tenant: str | None = None,
    upgrade_channel: str | None = "patch",
    pools: dict | None = None,
    support_plan: str = "KubernetesOfficial",
) -> dict:
    """The body of GET .../managedClusters/{name} (2024-09-01 shape)."""
    profiles = [
        {
            "name": pool,
            "count": count,
            "vmSize": vm,
            "osDiskSizeGB": 128,
            "maxPods": 110,
            "type": "VirtualMachineScaleSets",
            "availabilityZones": ["1", "2", "3"],
            "enableAutoScaling": autoscale,
            **({"minCount": low, "maxCount": high} if autoscale else {}),
            "provisioningState": "Succeeded",
            "powerState": {"code": "Running"},
            "orchestratorVersion": pool_version,
            "currentOrchestratorVersion": pool_version,
            "mode": mode,
            "osType": "Linux",
            "osSKU": "Ubuntu",
            "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202409.23.0",
            "upgradeSettings": {"maxSurge": "10%"},
        }
        for pool, (vm, count, autoscale, low, high, mode, pool_version) in (pools or POOLS).items()
    ]
    properties = {
        "provisioningState": provisioning,
        "powerState": {"code": power},
        "maxAgentPools": 100,
        "kubernetesVersion": version,
        "currentKubernetesVersion": version,
        "dnsPrefix": f"{name}-dns",
        "fqdn": f"{name}-dns-abcd1234.hcp.westeurope.azmk8s.io",
        "azurePortalFQDN": f"{name}-dns-abcd1234.portal.hcp.westeurope.azmk8s.io",
        "agentPoolProfiles": profiles,
        "servicePrincipalProfile": {"clientId": "msi"},
        "nodeResourceGroup": f"MC_{group}_{name}_westeurope",
        "enableRBAC": True,
        "supportPlan": support_plan,
        "networkProfile": {"networkPlugin": "kubenet", "podCidr": "10.244.0.0/16", "serviceCidr": "10.0.0.0/16"},
        "disableLocalAccounts": aad_tenant is not None,
    }
    if upgrade_channel:
        properties["autoUpgradeProfile"] = {"upgradeChannel": upgrade_channel, "nodeOSUpgradeChannel": "NodeImage"}
    if aad_tenant:
        properties["aadProfile"] = {
            "managed": True,
            "adminGroupObjectIDs": None,
            "enableAzureRBAC": False,
            "tenantID": aad_tenant,
        }
    return {
        "id": _arm_id(subscription, group, name),
        "location": "westeurope",
        "name": name,
        "tags": {},
        "type": "Microsoft.ContainerService/ManagedClusters",
        "properties": properties,
        "sku": {"name": "Base", "tier": "Standard"},
    }


def upgrade_profile(subscription: str, group: str, name: str, version: str = "1.20.2", upgrades=UPGRADES) -> dict:
    """The body of GET .../managedClusters/{name}/upgradeProfiles/default."""

    def listed(pairs) -> list[dict]:
        return [{"kubernetesVersion": v, **({"isPreview": True} if preview else {})} for v, preview in pairs]

    return {
        "id": f"{_arm_id(subscription, group, name)}/upgradeprofiles/default",
        "name": "default",
        "type": "Microsoft.ContainerService/managedClusters/upgradeprofiles",
        "properties": {
            "controlPlaneProfile": {
                "kubernetesVersion": version,
                "name": "master",
                "osType": "Linux",
                "upgrades": listed(upgrades),
            },
            "agentPoolProfiles": [
                {"kubernetesVersion": p[6], "name": pool, "osType": "Linux", "upgrades": listed(upgrades)}
                for pool, p in POOLS.items()
            ],
        },
    }


# the region's minors: (minor, supportPlan, isPreview, patch versions); 1.18 is past community
# support (long-term support only), 1.19 is gone, 1.20 the oldest community-supported minor
VERSIONS = [
    ("1.18", ["AKSLongTermSupport"], False, ["1.18.20"]),
    ("1.20", ["KubernetesOfficial"], False, ["1.20.2", "1.20.15"]),
    ("1.21", ["KubernetesOfficial"], False, ["1.21.14"]),
    ("1.22", ["KubernetesOfficial", "AKSLongTermSupport"], False, ["1.22.6"]),
    ("1.23", ["KubernetesOfficial"], True, ["1.23.5"]),
]


def kubernetes_versions(minors=VERSIONS, default: str = "1.21") -> dict:
    """The body of GET /subscriptions/{id}/providers/Microsoft.ContainerService/locations/{location}/kubernetesVersions."""

    def upgrades(i: int, j: int) -> list[str]:  # later patches of the same minor (listed in order), the next minor's
        return minors[i][3][j + 1 :] + (minors[i + 1][3] if i + 1 < len(minors) else [])

    return {
        "values": [
            {
                "version": minor,
                "capabilities": {"supportPlan": plans},
                **({"isDefault": True} if minor == default else {}),
                **({"isPreview": True} if preview else {}),
                "patchVersions": {patch: {"upgrades": upgrades(i, j)} for j, patch in enumerate(patches)},
            }
            for i, (minor, plans, preview, patches) in enumerate(minors)
        ]
    }


def _kubeconfig(name: str, group: str, server: str, ca_b64: str, user: dict) -> dict:
    user_name = f"clusterUser_{group}_{name}"
    return {
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": ca_b64, "server": server}, "name": name}],
        "contexts": [{"context": {"cluster": name, "user": user_name}, "name": name}],
        "current-context": name,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user_name, "user": user}],
    }


def aad_kubeconfig(name: str, group: str, server: str, ca_b64: str, tenant: str) -> dict:
    """What listClusterUserCredential returns for an Entra ID (AAD) cluster: kubelogin exec."""
    return _kubeconfig(
        name,
        group,
        server,
        ca_b64,
        {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "args": [
                    "get-token",
                    "--environment",
                    "AzurePublicCloud",
                    "--server-id",
                    AKS_SERVER_APP,
                    "--client-id",
                    AZURE_CLI_CLIENT,
                    "--tenant-id",
                    tenant,
                    "--login",
                    "devicecode",
                ],
                "command": "kubelogin",
                "env": None,
                "installHint": "\nkubelogin is not installed which is required to connect to AAD enabled cluster.\n\n"
                "To learn more, please go to https://aka.ms/aks/kubelogin\n",
                "provideClusterInfo": False,
            }
        },
    )


def local_account_kubeconfig(
    name: str, group: str, server: str, ca_b64: str, cert_pem: str, key_pem: str, token: str | None
) -> dict:
    """What listClusterUserCredential returns for a cluster with local accounts (token None:
    the same without its token, so that the client certificate authenticates)."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    user = {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}
    return _kubeconfig(name, group, server, ca_b64, user | ({"token": token} if token else {}))


def credential_results(kubeconfig: dict) -> dict:
    """The body of POST .../listClusterUserCredential."""
    value = base64.b64encode(yaml.safe_dump(kubeconfig, sort_keys=False).encode()).decode()
    return {"kubeconfigs": [{"name": "clusterUser", "value": value}]}
