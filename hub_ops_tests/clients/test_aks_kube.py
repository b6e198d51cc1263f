"""An azure cluster end to end, as AKS does it: the fleet's sops-encrypted service principal
(decrypted in memory) -> azure-identity's ClientSecretCredential -> an Entra ID token for ARM
-> azure-mgmt-containerservice's listClusterUserCredential -> the kubeconfig (kubelogin exec
user) -> an Entra ID token for the AKS server application instead of the plugin -> the real
kube-apiserver, whose token webhook accepts it and names the principal's object id, which
RBAC then authorizes.

No AKS control plane runs here: ARM and Entra ID are the HTTPS stand-ins of
hub_ops_dev/stack/aks.py, answering with recorded response shapes (hub_ops_tests/aks_recorded.py);
the Azure SDK, the kube-apiserver, RBAC and helm are real."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.kube import ClusterUnreachable, KubeClient
from hub_ops.clients.sops import Sops
from hub_ops.fleet import load_fleet
from hub_ops_dev.stack.aks import AKS_SERVER_APP, ManagedCluster
from hub_ops_tests import aks_recorded
from hub_ops_tests.clients.test_eks_kube import bind_cluster_role
from hub_ops_tests.clients.tiny_chart import install_tiny

SUBSCRIPTION = "6f1b0d6e-3c1a-4d36-9d0e-5e8a1f0c2b11"
GROUP = "rg-hub-ops"


def claims_of(jwt: str) -> dict:
    body = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def client_certificate(kube_cluster, user: str, group: str = "system:masters") -> tuple[str, str]:
    """(cert, key) PEM of a client certificate the cluster's CA signs (AKS's clusterUser is
    CN=masterclient, O=system:masters)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    ca_cert = x509.load_pem_x509_certificate((kube_cluster.pki / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((kube_cluster.pki / "ca.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group), x509.NameAttribute(NameOID.COMMON_NAME, user)]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def add_aks_cluster(plane, kube_cluster, *, users=(), aad: bool = True, local_token: str | None = None, **body):
    """An AKS cluster on the stand-in ARM, its API the stack's kube-apiserver: Entra ID
    (kubelogin exec kubeconfig) or local accounts (client certificate + token). Its name."""
    name = f"aks-{uuid.uuid4().hex[:6]}"
    ca_b64 = base64.b64encode((kube_cluster.pki / "ca.crt").read_bytes()).decode()
    if aad:
        kubeconfig = aks_recorded.aad_kubeconfig(name, GROUP, kube_cluster.server_url, ca_b64, plane.tenant)
    else:
        cert, key = client_certificate(kube_cluster, "masterclient")
        kubeconfig = aks_recorded.local_account_kubeconfig(
            name, GROUP, kube_cluster.server_url, ca_b64, cert, key, local_token
        )
    plane.add_cluster(
        SUBSCRIPTION,
        GROUP,
        name,
        ManagedCluster(
            body=aks_recorded.managed_cluster(
                SUBSCRIPTION, GROUP, name, aad_tenant=plane.tenant if aad else None, **body
            ),
            upgrade_profile=aks_recorded.upgrade_profile(SUBSCRIPTION, GROUP, name, body.get("version", "1.20.2")),
            kubeconfig=kubeconfig,
            users=set(users),
        ),
    )
    return name


def add_azure_fleet_cluster(fleet_root, name: str, aks_name: str, key: dict | None, age_key, node_pools=None) -> None:
    """cluster.yaml `name` with provider azure; its key (when given) sops-encrypted."""
    folder = fleet_root / "clusters" / name
    folder.mkdir(parents=True)
    azure = {"resource_group": GROUP, "cluster": aks_name}
    if key is not None:
        azure["key"] = "enc-deployer-credentials.secret.json"
        (folder / azure["key"]).write_text(json.dumps(key))
        age_key.encrypt(folder / azure["key"])
    doc = {"name": name, "provider": "azure", "azure": azure, "support": {"helm_chart_values_files": []}, "hubs": []}
    if node_pools:
        doc["node_pools"] = node_pools
    (folder / "cluster.yaml").write_text(yaml.safe_dump(doc))


@pytest.fixture
def aks_fleet(aks_env, example_fleet, age_key):
    """(fleet root, service principal, its key, the AKS cluster's name, admin ApiClient): the
    azure cluster `aks-e2e`, whose principal holds the Cluster User Role."""
    plane, kube_cluster = aks_env
    principal, key = plane.add_service_principal()
    key["subscriptionId"] = SUBSCRIPTION
    aks_name = add_aks_cluster(plane, kube_cluster, users={principal.object_id})
    add_azure_fleet_cluster(example_fleet, "aks-e2e", aks_name, key, age_key)
    admin = kube_cluster.api_client()
    yield example_fleet, principal, key, aks_name, admin
    admin.close()


def test_a_namespace_a_lease_and_a_helm_release_on_an_aad_aks_cluster(aks_fleet, aks_env, age_key, tmp_path):
    fleet_root, principal, key, _aks_name, admin = aks_fleet
    plane, kube_cluster = aks_env
    fleet = load_fleet(fleet_root, check_files=False)
    access = cluster_access(fleet, fleet.clusters["aks-e2e"], Sops(str(age_key.path)))

    assert access.server == kube_cluster.server_url  # the kubeconfig listClusterUserCredential returned
    assert access.ca_pem == (kube_cluster.pki / "ca.crt").read_text()
    token = access.helm_options()["kube_token"]  # helm gets the same API and in-memory token
    assert claims_of(token)["aud"] == AKS_SERVER_APP and claims_of(token)["oid"] == principal.object_id
    assert principal.secret not in repr(access) and key["clientSecret"] not in repr(access)
    assert [claims["aud"] for claims in plane.issued[-2:]] == ["https://management.azure.com", AKS_SERVER_APP]
    kube = KubeClient(access, "aks-e2e")
    namespace = f"aks-{uuid.uuid4().hex[:6]}"

    # authenticated as the principal's object id, but not yet allowed: 403, not 401
    with pytest.raises(ApiException) as refused:
        kube.ensure_namespace(namespace)
    assert refused.value.status == 403 and principal.object_id in refused.value.body
    assert plane.reviews[-1]["user"]["username"] == principal.object_id

    bind_cluster_role(admin, principal.object_id)  # what an AKS RBAC ClusterRoleBinding amounts to
    kube.ensure_namespace(namespace)
    assert client.CoreV1Api(admin).read_namespace(namespace).metadata.name == namespace
    assert kube.acquire_lease(namespace, "hub-ops-hub.test", "deploy run-1")
    assert kube.lease_holder(namespace, "hub-ops-hub.test") == "deploy run-1"

    assert install_tiny(access, tmp_path / "tiny", namespace, "aks") == "deployed"
    assert client.CoreV1Api(admin).read_namespaced_config_map("tiny", namespace).data == {"who": "aks"}


def test_the_aks_token_is_asked_for_again_before_it_expires(aks_fleet, aks_env, age_key):
    fleet_root, principal, _key, _aks_name, admin = aks_fleet
    plane, _kube_cluster = aks_env
    bind_cluster_role(admin, principal.object_id)
    plane.token_life_s = 8  # Entra ID's are ~1 h; hub_ops renews a quarter of the life early (2 s here)
    try:
        fleet = load_fleet(fleet_root, check_files=False)
        kube = KubeClient(cluster_access(fleet, fleet.clusters["aks-e2e"], Sops(str(age_key.path))), "aks-e2e")
        assert kube.server_version().startswith("v1.20.")
        first = claims_of(kube.access.bearer_token())
        time.sleep(6.5)  # the first token is still valid, but within the renewal margin
        assert kube.namespace_exists("kube-system")
        second = claims_of(kube.access.bearer_token())
    finally:
        plane.token_life_s = 3599
    assert second["jti"] != first["jti"] and second["exp"] > first["exp"]
    assert plane.reviews[-1] == {
        "authenticated": True,
        "user": {"username": principal.object_id, "uid": principal.object_id},
    }


def test_refusals_name_the_cause_and_never_the_secret(aks_env, example_fleet, age_key, monkeypatch):
    plane, kube_cluster = aks_env
    principal, key = plane.add_service_principal()
    key["subscriptionId"] = SUBSCRIPTION
    aks_name = add_aks_cluster(plane, kube_cluster)  # the principal lacks the Cluster User Role
    add_azure_fleet_cluster(example_fleet, "aks-no-role", aks_name, key, age_key)
    wrong = dict(key, clientSecret="not-" + key["clientSecret"])
    add_azure_fleet_cluster(example_fleet, "aks-wrong-secret", aks_name, wrong, age_key)
    add_azure_fleet_cluster(example_fleet, "aks-half-key", aks_name, {"clientId": principal.client_id}, age_key)
    add_azure_fleet_cluster(example_fleet, "aks-no-key", aks_name, None, age_key)
    fleet = load_fleet(example_fleet, check_files=False)
    sops = Sops(str(age_key.path))

    def refusal(name: str) -> str:
        with pytest.raises(ClusterUnreachable) as refused:
            cluster_access(fleet, fleet.clusters[name], sops)
        return str(refused.value)

    no_role = refusal("aks-no-role")
    assert no_role.startswith("cluster aks-no-role: ARM answered 403 AuthorizationFailed: ")
    assert "listClusterUserCredential/action" in no_role and principal.object_id in no_role
    wrong_secret = refusal("aks-wrong-secret")
    assert wrong_secret.startswith("cluster aks-wrong-secret: Entra ID refused the credentials: ")
    assert "AADSTS7000215" in wrong_secret and wrong["clientSecret"] not in wrong_secret
    assert refusal("aks-half-key") == (
        "cluster aks-half-key: azure.key enc-deployer-credentials.secret.json: missing tenantId, clientSecret "
        "(a service principal's JSON, as `az ad sp create-for-rbac --sdk-auth` prints it)"
    )
    assert refusal("aks-no-key") == (
        "cluster aks-no-key: no Azure subscription: cluster.yaml has no azure.key and AZURE_SUBSCRIPTION_ID is not set"
    )
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)  # and no identity in the environment
    assert refusal("aks-no-key").startswith(
        "cluster aks-no-key: no Azure credentials: cluster.yaml has no azure.key and DefaultAzureCredential found none"
    )


def test_without_a_key_workload_identity_reaches_the_cluster(aks_env, example_fleet, age_key, tmp_path, monkeypatch):
    plane, kube_cluster = aks_env
    identity = plane.add_workload_identity()
    aks_name = add_aks_cluster(plane, kube_cluster, users={identity.object_id})
    add_azure_fleet_cluster(example_fleet, "aks-wi", aks_name, None, age_key)
    token_file = tmp_path / "azure-identity-token"  # what the workload identity webhook mounts
    token_file.write_text(identity.federated_token)
    for name, value in {
        "AZURE_TENANT_ID": plane.tenant,
        "AZURE_CLIENT_ID": identity.client_id,
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
    }.items():
        monkeypatch.setenv(name, value)
    with kube_cluster.api_client() as admin:
        bind_cluster_role(admin, identity.object_id)
    fleet = load_fleet(example_fleet, check_files=False)
    kube = KubeClient(cluster_access(fleet, fleet.clusters["aks-wi"], Sops()), "aks-wi")
    assert kube.server_version().startswith("v1.20.")
    assert plane.reviews[-1]["user"]["username"] == identity.object_id


def test_a_local_accounts_cluster_uses_its_kubeconfig_user(aks_env, example_fleet, age_key):
    plane, kube_cluster = aks_env
    principal, key = plane.add_service_principal()
    key["subscriptionId"] = SUBSCRIPTION
    local_token = uuid.uuid4().hex
    plane.local_tokens[local_token] = "clusterUser"
    with_token = add_aks_cluster(plane, kube_cluster, users={principal.object_id}, aad=False, local_token=local_token)
    cert_only = add_aks_cluster(plane, kube_cluster, users={principal.object_id}, aad=False)
    add_azure_fleet_cluster(example_fleet, "aks-local", with_token, key, age_key)
    add_azure_fleet_cluster(example_fleet, "aks-cert", cert_only, key, age_key)
    fleet = load_fleet(example_fleet, check_files=False)
    sops = Sops(str(age_key.path))

    access = cluster_access(fleet, fleet.clusters["aks-local"], sops)
    assert access.tokens is None and access.token == local_token  # no Entra ID token for the API
    assert KubeClient(access, "aks-local").namespace_exists("kube-system")
    assert plane.reviews[-1]["user"]["username"] == "clusterUser"

    reviewed = len(plane.reviews)
    access = cluster_access(fleet, fleet.clusters["aks-cert"], sops)
    assert access.token is None and "BEGIN CERTIFICATE" in access.client_cert_pem
    assert KubeClient(access, "aks-cert").namespace_exists("kube-system")  # x509: system:masters
    assert len(plane.reviews) == reviewed  # no token was reviewed: the certificate authenticated
