"""pytest plugin: the local stack of real servers.

Session-scoped servers, started on first use and stopped at session end (also when tests
fail or are interrupted: pytest runs session finalizers on KeyboardInterrupt, and each
server runs in a process group of its own). Per-test fixtures hand out private buckets,
databases and namespaces so tests never see each other's data.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

from kubernetes.client import ApiClient  # noqa: E402

from hub_ops.clients.storage import Storage  # noqa: E402
from hub_ops_dev.stack.aks import AksControlPlane  # noqa: E402
from hub_ops_dev.stack.azurite import AzuriteServer  # noqa: E402
from hub_ops_dev.stack.eks_webhook import EksControlPlane  # noqa: E402
from hub_ops_dev.stack.gcs import FakeGcsServer  # noqa: E402
from hub_ops_dev.stack.jupyterhub import JupyterHubServer  # noqa: E402
from hub_ops_dev.stack.kube import KubeCluster  # noqa: E402
from hub_ops_dev.stack.kubelet import Kubelet  # noqa: E402
from hub_ops_dev.stack.moto import MOTO_ACCOUNT, MotoServer  # noqa: E402
from hub_ops_dev.stack.postgres import PostgresServer  # noqa: E402


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # CI runners and `timeout` stop jobs with SIGTERM; pytest runs session finalizers (which
    # stop the servers) on KeyboardInterrupt only, so treat SIGTERM like Ctrl-C.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


def _short_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Work dirs and logs of every server of this session."""
    return tmp_path_factory.mktemp("stack")


# ------------------------------------------------------------------ GCS


@pytest.fixture(scope="session")
def gcs_server(stack_dir: Path) -> Iterator[FakeGcsServer]:
    server = FakeGcsServer(stack_dir / "gcs").start()
    yield server
    server.stop()


@pytest.fixture
def gcs_bucket(gcs_server: FakeGcsServer) -> str:
    """A fresh, empty bucket."""
    return gcs_server.create_bucket(f"test-{_short_id()}")


@pytest.fixture
def gcs_storage(gcs_server: FakeGcsServer) -> Storage:
    """Storage that sends gs:// URLs to the GCS server."""
    import gcsfs

    gcsfs.GCSFileSystem.clear_instance_cache()
    return Storage(gcs_endpoint=gcs_server.endpoint, gcs_token="anon")


# ------------------------------------------------------------------ AWS (moto: S3, STS, EKS)


@pytest.fixture(scope="session")
def moto_server(stack_dir: Path) -> Iterator[MotoServer]:
    server = MotoServer(stack_dir / "moto").start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The standard AWS environment variables, pointing at the moto server, for one test."""
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    return moto_server


@pytest.fixture
def s3_bucket(aws_env: MotoServer) -> str:
    """A fresh, empty S3 bucket on the moto server."""
    import boto3

    name = f"test-{_short_id()}"
    boto3.client("s3", endpoint_url=aws_env.endpoint).create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    return name


# ------------------------------------------------------------------ Azure Blob (Azurite)


@pytest.fixture(scope="session")
def azurite_server(stack_dir: Path) -> Iterator[AzuriteServer]:
    server = AzuriteServer(stack_dir / "azurite").start()
    yield server
    server.stop()


@pytest.fixture
def azure_env(azurite_server: AzuriteServer, monkeypatch: pytest.MonkeyPatch) -> AzuriteServer:
    """The standard Azure Storage environment variable, pointing at Azurite, for one test."""
    for key, value in azurite_server.env().items():
        monkeypatch.setenv(key, value)
    return azurite_server


@pytest.fixture
def az_container(azure_env: AzuriteServer) -> str:
    """A fresh, empty blob container on Azurite."""
    return azure_env.create_container(f"test-{_short_id()}")


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop(remove=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of a fresh database."""
    return postgres_server.create_database(f"test_{_short_id()}")


# ------------------------------------------------------------------ Kubernetes


@pytest.fixture(scope="session")
def kube_cluster(stack_dir: Path) -> Iterator[KubeCluster]:
    """etcd + kube-apiserver 1.20 + kube-controller-manager, with `.kubeconfig` and `.api_client()`.

    Builds the binaries first if this machine has none cached (~4 min, once).
    """
    cluster = KubeCluster(stack_dir / "kube").start()
    yield cluster
    cluster.stop()


@pytest.fixture
def kube_api(kube_cluster: KubeCluster) -> Iterator[ApiClient]:
    """A fresh `kubernetes.client.ApiClient` for the test cluster."""
    api = kube_cluster.api_client()
    yield api
    api.close()


@pytest.fixture
def kube_namespace(kube_api: ApiClient) -> Iterator[str]:
    """A fresh namespace; deleted after the test (the controller-manager finishes that later)."""
    from kubernetes import client

    name = f"test-{_short_id()}"
    client.CoreV1Api(kube_api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    try:
        client.CoreV1Api(kube_api).delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:  # a test may have deleted it itself
            raise


@pytest.fixture
def kubelet(kube_api: ApiClient) -> Kubelet:
    """Plays the kubelet: mark pods Running/Succeeded/Failed, make Deployments Available, finish Jobs."""
    return Kubelet(kube_api)


@pytest.fixture
def helm_config(kube_cluster: KubeCluster, kube_namespace: str) -> Iterator[Any]:
    """A `helm_python.Config` installing into `kube_namespace` of the test cluster."""
    import helm_python

    with helm_python.Config(kubeconfig_path=str(kube_cluster.kubeconfig), namespace=kube_namespace) as config:
        yield config


@pytest.fixture(scope="session")
def eks_stack(stack_dir: Path, moto_server: MotoServer) -> Iterator[tuple[EksControlPlane, KubeCluster]]:
    """An "EKS" cluster: a kube-apiserver of its own (RBAC, no controller-manager: ~4 s) that
    trusts `k8s-aws-v1.` tokens through the EksControlPlane webhook, which asks moto's STS."""
    import base64

    plane = EksControlPlane(moto_server.endpoint).start()
    workdir = stack_dir / "eks"
    workdir.mkdir(parents=True, exist_ok=True)
    cluster = KubeCluster(
        workdir,
        token_webhook=plane.webhook_kubeconfig(workdir / "webhook.kubeconfig"),
        authorization_mode="RBAC",
        controllers=False,
    ).start()
    plane.clusters[plane.cluster_id] = (
        cluster.server_url,
        base64.b64encode((cluster.pki / "ca.crt").read_bytes()).decode(),
    )
    yield plane, cluster
    cluster.stop()
    plane.stop()


@pytest.fixture
def eks_env(eks_stack, aws_env: MotoServer, monkeypatch: pytest.MonkeyPatch) -> tuple[EksControlPlane, KubeCluster]:
    """aws_env, with the EKS API at the control plane (DescribeCluster names the local
    apiserver) and its cluster recorded in moto's EKS (created if missing)."""
    import boto3

    plane, cluster = eks_stack
    monkeypatch.setenv("AWS_ENDPOINT_URL_EKS", plane.url)
    eks = boto3.client("eks", endpoint_url=aws_env.endpoint)
    if plane.cluster_id not in eks.list_clusters()["clusters"]:
        eks.create_cluster(
            name=plane.cluster_id,
            roleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/eks",
            resourcesVpcConfig={},
            version="1.20",
        )
    return plane, cluster


# ------------------------------------------------------------------ JupyterHub


@pytest.fixture(scope="session")
def jupyterhub_server(stack_dir: Path) -> Iterator[JupyterHubServer]:
    """JupyterHub on loopback with `.url`, `.api_token` (service `hub-ops`) and `.api(method, path)`."""
    server = JupyterHubServer(stack_dir / "jupyterhub").start()
    yield server
    server.stop()


# ------------------------------------------------------------------ Azure (AKS: ARM, Entra ID)


@pytest.fixture(scope="session")
def aks_stack(stack_dir: Path) -> Iterator[tuple[AksControlPlane, KubeCluster]]:
    """An "AKS" cluster: ARM and Entra ID stand-ins over HTTPS (hub_ops_dev/stack/aks.py;
    nothing offline emulates them), and a kube-apiserver of its own (RBAC, no
    controller-manager: ~4 s) whose token webhook accepts the stand-in's Entra ID tokens for
    the AKS server application."""
    plane = AksControlPlane(stack_dir / "aks").start()
    workdir = stack_dir / "aks" / "kube"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        cluster = KubeCluster(
            workdir,
            token_webhook=plane.webhook_kubeconfig(workdir / "webhook.kubeconfig"),
            authorization_mode="RBAC",
            controllers=False,
        ).start()
    except BaseException:
        plane.stop()
        raise
    yield plane, cluster
    cluster.stop()
    plane.stop()


@pytest.fixture
def aks_env(aks_stack, monkeypatch: pytest.MonkeyPatch) -> tuple[AksControlPlane, KubeCluster]:
    """The Azure SDK pointed at the stand-ins for one test: Entra ID (AZURE_AUTHORITY_HOST,
    read by azure-identity), ARM (HUB_OPS_AZURE_ARM_ENDPOINT), and their CA trusted
    (REQUESTS_CA_BUNDLE, read by requests under azure-core); no ambient Azure identity."""
    plane, cluster = aks_stack
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", plane.url)
    monkeypatch.setenv("HUB_OPS_AZURE_ARM_ENDPOINT", plane.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(plane.ca_file))
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "AZURE_SUBSCRIPTION_ID",
    ):
        monkeypatch.delenv(name, raising=False)
    return plane, cluster
