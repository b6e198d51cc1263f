"""kubeconfig clusters whose user is a client certificate (client-certificate-data /
client-key-data, as the 2i2c fixture's utoronto kubeconfig has), against the local
kube-apiserver with a real certificate signed by its CA; the key is never left on disk."""

from __future__ import annotations

import base64
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.kube import ClusterUnreachable, KubeClient, access_from_kubeconfig_doc
from hub_ops.clients.sops import Sops
from hub_ops.fleet import load_fleet
from hub_ops_tests.clients.tiny_chart import install_tiny


def client_certificate(folder: Path, ca_crt: Path, ca_key: Path, user: str) -> tuple[str, str]:
    """(certificate PEM, key PEM) for `user`, signed by the given CA (openssl, as an admin would)."""
    folder.mkdir(parents=True, exist_ok=True)
    run = {"cwd": folder, "check": True, "capture_output": True}
    subprocess.run(
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", "user.key", "-out", "user.csr", "-subj", f"/CN={user}/O=hub-ops"],
        **run,
    )
    subprocess.run(
        ["openssl", "x509", "-req", "-in", "user.csr", "-CA", str(ca_crt), "-CAkey", str(ca_key)]
        + ["-CAcreateserial", "-days", "2", "-out", "user.crt"],
        **run,
    )
    return (folder / "user.crt").read_text(), (folder / "user.key").read_text()


def kubeconfig_doc(server: str, ca_pem: bytes, cert_pem: str, key_pem: str) -> dict:
    def b64(data: str | bytes) -> str:
        return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ut",
        "clusters": [{"name": "ut", "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [
            {"name": "deployer", "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}
        ],
        "contexts": [{"name": "ut", "context": {"cluster": "ut", "user": "deployer"}}],
    }


def leftover_cert_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("hub_ops-client-cert-*")}


@pytest.fixture
def cert_kubeconfig(kube_cluster, tmp_path) -> dict:
    cert, key = client_certificate(tmp_path / "pki", kube_cluster.pki / "ca.crt", kube_cluster.pki / "ca.key", "alice")
    return kubeconfig_doc(kube_cluster.server_url, (kube_cluster.pki / "ca.crt").read_bytes(), cert, key)


def test_a_sops_encrypted_client_certificate_kubeconfig_reaches_the_cluster(
    cert_kubeconfig, kube_cluster, example_fleet, age_key, tmp_path
):
    folder = example_fleet / "clusters" / "ut"
    folder.mkdir()
    (folder / "enc-deployer-credentials.secret.yaml").write_text(yaml.safe_dump(cert_kubeconfig))
    age_key.encrypt(folder / "enc-deployer-credentials.secret.yaml")
    (folder / "cluster.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "ut",
                "provider": "kubeconfig",
                "kubeconfig": {"file": "enc-deployer-credentials.secret.yaml"},
                "support": {"helm_chart_values_files": []},
                "hubs": [],
            }
        )
    )
    before = leftover_cert_dirs()
    fleet = load_fleet(example_fleet, check_files=False)
    access = cluster_access(fleet, fleet.clusters["ut"], Sops(str(age_key.path)))
    assert access.bearer_token() is None  # the certificate alone authenticates
    key_pem = base64.b64decode(cert_kubeconfig["users"][0]["user"]["client-key-data"]).decode()
    assert key_pem.strip().splitlines()[1] not in repr(access)

    kube = KubeClient(access, "ut")
    namespace = f"cert-{uuid.uuid4().hex[:6]}"
    kube.ensure_namespace(namespace)
    kube.api.rest_client.pool_manager.clear()  # a new TLS handshake: the key is still in memory
    assert kube.namespace_exists(namespace)
    assert leftover_cert_dirs() == before

    assert install_tiny(access, tmp_path / "tiny", namespace, "alice") == "deployed"
    with kube_cluster.api_client() as admin:
        assert client.CoreV1Api(admin).read_namespaced_config_map("tiny", namespace).data == {"who": "alice"}
        client.CoreV1Api(admin).delete_namespace(namespace)


def test_a_certificate_from_another_ca_is_refused(kube_cluster, tmp_path):
    other = tmp_path / "other-ca"
    other.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=not-the-cluster-ca"],
        cwd=other,
        check=True,
        capture_output=True,
    )
    cert, key = client_certificate(tmp_path / "mallory", other / "ca.crt", other / "ca.key", "mallory")
    doc = kubeconfig_doc(kube_cluster.server_url, (kube_cluster.pki / "ca.crt").read_bytes(), cert, key)
    with access_from_kubeconfig_doc(doc).api_client() as api, pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).list_namespace()
    assert refused.value.status == 401


def test_a_key_that_does_not_match_its_certificate_is_named(cert_kubeconfig, kube_cluster, tmp_path):
    _cert, other_key = client_certificate(
        tmp_path / "bob", kube_cluster.pki / "ca.crt", kube_cluster.pki / "ca.key", "bob"
    )
    cert_kubeconfig["users"][0]["user"]["client-key-data"] = base64.b64encode(other_key.encode()).decode()
    with pytest.raises(ClusterUnreachable, match="client certificate and key do not load as a pair"):
        access_from_kubeconfig_doc(cert_kubeconfig).api_client()


def test_a_user_with_neither_token_nor_certificate_data_is_named(cert_kubeconfig):
    cert_kubeconfig["users"][0]["user"] = {"exec": {"command": "aws"}}
    with pytest.raises(
        ClusterUnreachable, match=r"kubeconfig: user 'deployer' has neither token nor client-certificate"
    ):
        access_from_kubeconfig_doc(cert_kubeconfig)
