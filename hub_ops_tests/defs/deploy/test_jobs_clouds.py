"""deploy_job to an `aws` and an `azure` cluster of the fleet, on the real local stack: the
cluster's access resolves through its provider (aws: the sops-encrypted IAM key -> boto3 ->
a presigned STS token -> kube-apiserver -> the EKS webhook -> moto's STS; azure: the
service principal -> the ARM and Entra ID stand-ins -> an AKS server-application token ->
the kube-apiserver's webhook), and helm installs, health-checks, records and rolls back
there as on a kubeconfig cluster. The tokens stay in memory: no file written under the temp
dir or HOME during the run holds one."""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from kubernetes import client

from hub_ops.clients.helm import HelmClient
from hub_ops.clients.kube import ClusterAccess
from hub_ops_dev.stack.moto import MOTO_ACCOUNT, REGION
from hub_ops_tests.clients.test_aks_kube import GROUP, SUBSCRIPTION, add_aks_cluster
from hub_ops_tests.clients.test_eks import iam_user_key
from hub_ops_tests.clients.test_eks_kube import bind_cluster_role
from hub_ops_tests.defs.deploy.test_jobs import recorded, run_deploy, step_status
from hub_ops_tests.fleet_repos import AutoKubelet, FleetRepo, build_fleet_repo

CLUSTER = "cloud"
KEY_FILE = "enc-deployer-credentials.secret.json"
JWT = re.compile(rb"eyJ[\w-]+\.(eyJ[\w-]+)\.[\w-]+")
EKS_TOKEN = re.compile(rb"k8s-aws-v1\.([\w-]+)")


def _unb64(data: bytes) -> bytes:
    try:
        return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))
    except ValueError:
        return b""


@dataclass
class CloudCluster:
    """The fleet's cluster `cloud` on a provider's local stand-in."""

    repo: FleetRepo
    kube_cluster: object  # hub_ops_dev.stack.kube.KubeCluster: the API the provider resolves to
    secrets: list[str]  # what must never reach a file: the decrypted key's secret parts
    token_in: object  # bytes -> True when they hold a cluster token the provider issued
    reviewed_user: object  # () -> the user name the cluster's webhook last authenticated
    user: str  # who the provider's credentials are (the RBAC subject)


def _fleet_with(tmp_path: Path, age_key, hub_token: str, provider: str, block: dict, key: dict) -> FleetRepo:
    repo = build_fleet_repo(tmp_path / "fleet", clusters={CLUSTER: "unused"}, hub_token=hub_token, age=age_key)
    doc = repo.cluster_doc(CLUSTER)
    del doc["local"]
    doc["provider"], doc[provider] = provider, {**block, "key": KEY_FILE}
    repo.write_yaml(f"clusters/{CLUSTER}/cluster.yaml", doc)
    age_key.encrypt(repo.write(f"clusters/{CLUSTER}/{KEY_FILE}", json.dumps(key)))
    repo.commit(f"{CLUSTER} is a {provider} cluster")
    return repo


def _aws(eks_env, tmp_path, age_key, hub_token) -> CloudCluster:
    plane, kube_cluster = eks_env
    arn, key = iam_user_key(plane.sts_endpoint)
    plane.trust_key(key["AccessKey"]["AccessKeyId"], key["AccessKey"]["SecretAccessKey"])
    block = {"account": MOTO_ACCOUNT, "clusterName": plane.cluster_id, "region": REGION}
    repo = _fleet_with(tmp_path, age_key, hub_token, "aws", block, key)
    return CloudCluster(
        repo,
        kube_cluster,
        [key["AccessKey"]["SecretAccessKey"]],
        lambda data: any(
            key["AccessKey"]["AccessKeyId"].encode() in _unb64(body) for body in EKS_TOKEN.findall(data)
        ),  # a presigned URL signed with this key
        lambda: plane.reviews[-1].get("user", {}).get("username"),
        arn,
    )


def _azure(aks_env, tmp_path, age_key, hub_token) -> CloudCluster:
    plane, kube_cluster = aks_env
    principal, key = plane.add_service_principal()
    key["subscriptionId"] = SUBSCRIPTION
    aks_name = add_aks_cluster(plane, kube_cluster, users={principal.object_id})
    repo = _fleet_with(tmp_path, age_key, hub_token, "azure", {"resource_group": GROUP, "cluster": aks_name}, key)

    def token_in(data: bytes) -> bool:
        issued = {claims["jti"] for claims in plane.issued}
        for payload in JWT.findall(data):
            try:
                claims = json.loads(_unb64(payload))
            except ValueError:
                continue
            if claims.get("jti") in issued:
                return True
        return False

    return CloudCluster(
        repo,
        kube_cluster,
        [principal.secret],
        token_in,
        lambda: plane.reviews[-1].get("user", {}).get("username"),
        principal.object_id,
    )


@pytest.fixture(params=["aws", "azure"])
def cloud(request, tmp_path, age_key, jupyterhub_server):
    """The fleet's `cloud` cluster on the EKS (moto + webhook) or AKS (stand-in) stack, whose
    credentials hold cluster-admin there (an access entry / an AKS RBAC binding), with the
    controller-manager running so Deployments become Available. Its namespaces are deleted after."""
    if request.param == "aws":
        made = _aws(request.getfixturevalue("eks_env"), tmp_path, age_key, jupyterhub_server.api_token)
    else:
        made = _azure(request.getfixturevalue("aks_env"), tmp_path, age_key, jupyterhub_server.api_token)
    made.kube_cluster.start_controllers()
    with made.kube_cluster.api_client() as admin:
        binding = bind_cluster_role(admin, made.user)
    yield made
    with made.kube_cluster.api_client() as admin:
        client.RbacAuthorizationV1Api(admin).delete_cluster_role_binding(binding)
        core = client.CoreV1Api(admin)
        for ns in core.list_namespace().items:
            if ns.metadata.name.startswith(made.repo.prefix):
                core.delete_namespace(ns.metadata.name)


def files_written_since(start: float, *folders: Path, max_bytes: int = 16 << 20):
    """(path, content) of every regular file under `folders` changed since `start` (other
    sessions' big outputs in a shared /tmp are skipped by size: a credential file is small)."""
    for folder in folders:
        for root, _dirs, names in os.walk(folder, onerror=lambda e: None):
            for name in names:
                path = Path(root) / name
                try:
                    info = path.lstat()
                    if not path.is_file() or path.is_symlink() or info.st_mtime < start or info.st_size > max_bytes:
                        continue
                    yield path, path.read_bytes()
                except OSError:  # gone meanwhile, or a socket/fifo
                    continue


def test_deploy_job_installs_checks_records_and_rolls_back_on_a_cloud_cluster(
    cloud: CloudCluster, deploy_resources, jupyterhub_server
):
    repo = cloud.repo
    started = time.time() - 1  # mtime resolution
    hubs = [f"{CLUSTER}/staging", f"{CLUSTER}/prod"]
    admin_access = ClusterAccess(kubeconfig_path=str(cloud.kube_cluster.kubeconfig))
    with cloud.kube_cluster.api_client() as admin_api, AutoKubelet(admin_api, repo.prefix):
        with dg.instance_for_test() as instance:
            first = run_deploy(deploy_resources(repo), instance, hubs=hubs)
            assert first.success, step_status(first)
            assert cloud.reviewed_user() == cloud.user  # the deploy was authenticated as the provider's identity
            for hub in ("staging", "prod"):
                (mat,) = recorded(instance, f"{CLUSTER}.{hub}")
                meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
                assert meta["status"] == "deployed" and meta["helm_revision"] == 1 and meta["git_sha"] == repo.head()
                assert meta["health"].startswith("JupyterHub ")
                deployment = client.AppsV1Api(admin_api).list_namespaced_deployment(repo.namespace(CLUSTER, hub))
                assert deployment.items, f"nothing installed for {hub} on the cluster the provider names"

            # staging's new token is one its JupyterHub does not know: the health check fails
            repo.write_secret(
                f"clusters/{CLUSTER}/enc-staging.secret.values.yaml",
                {"jupyterhub": {"hub": {"services": {"hub-ops": {"apiToken": "wrong-token-for-cloud"}}}}},
            )
            repo.commit("staging: a token the hub does not know")
            second = run_deploy(deploy_resources(repo), instance, hubs=hubs)
            steps = step_status(second)
            assert not second.success and steps[f"check_staging[{CLUSTER}]"] == "STEP_FAILURE"
            assert steps.get(f"deploy_prod[{CLUSTER}]", "STEP_SKIPPED") == "STEP_SKIPPED"
            assert len(recorded(instance, f"{CLUSTER}.staging")) == 1  # the failed release is not recorded
            everything = json.dumps([str(e) for e in instance.all_logs(second.run_id)])
            assert "wrong-token-for-cloud" not in everything and jupyterhub_server.api_token not in everything

    helm = HelmClient(admin_access)  # the cluster's own view, not through the provider
    try:
        staging_ns = repo.namespace(CLUSTER, "staging")
        staging = helm.current("staging", staging_ns)
        assert staging is not None and staging.status == "deployed" and staging.revision == 3  # 3 = rollback to 1
        history = {r.revision: r.status for r in helm.history("staging", staging_ns)}
        assert history == {1: "superseded", 2: "superseded", 3: "deployed"}

        def token(revision: int) -> str:
            values = helm.get_values("staging", staging_ns, revision)
            return values["jupyterhub"]["hub"]["services"]["hub-ops"]["apiToken"]

        assert token(2) == "wrong-token-for-cloud"  # the upgrade the health check refused
        assert token(3) == token(1) == jupyterhub_server.api_token  # serving the previous values again
        assert helm.current("prod", repo.namespace(CLUSTER, "prod")).revision == 1
    finally:
        helm.close()

    leaks = [
        str(path)
        for path, data in files_written_since(started, Path(tempfile.gettempdir()), Path.home())
        if cloud.token_in(data) or any(secret.encode() in data for secret in cloud.secrets)
    ]
    assert leaks == []
