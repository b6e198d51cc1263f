"""An aws cluster end to end, as EKS does it: boto3 signs an STS GetCallerIdentity URL
(the fleet's sops-encrypted IAM key, decrypted in memory) -> kube-apiserver -> its token
webhook (hub_ops_dev/stack/eks_webhook.py) -> STS on moto's server -> the IAM user's ARN,
which RBAC then authorizes. DescribeCluster is moto's answer, with the endpoint and CA of
the local apiserver put in by the same control plane (moto's endpoint points nowhere)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.eks import EksClient, session_for
from hub_ops.clients.kube import KubeClient, kube_configuration
from hub_ops.clients.sops import Sops
from hub_ops.fleet import load_fleet
from hub_ops_dev.stack.moto import REGION
from hub_ops_tests.clients.test_eks import add_aws_cluster, iam_user_key
from hub_ops_tests.clients.tiny_chart import install_tiny


def add_trusted_aws_cluster(plane, fleet_root, age_key, name: str) -> tuple[str, dict]:
    """An aws cluster `name` in the fleet, on the local EKS stack, whose sops-encrypted key is
    a new moto IAM user's that the stack's webhook trusts; (the user's ARN, the key)."""
    arn, key = iam_user_key(plane.sts_endpoint)
    plane.trust_key(key["AccessKey"]["AccessKeyId"], key["AccessKey"]["SecretAccessKey"])
    folder = add_aws_cluster(fleet_root, name, plane.cluster_id, "enc-deployer-credentials.secret.json")
    (folder / "enc-deployer-credentials.secret.json").write_text(json.dumps(key))
    age_key.encrypt(folder / "enc-deployer-credentials.secret.json")
    return arn, key


@pytest.fixture
def eks_fleet(eks_env, example_fleet, age_key):
    """(fleet, IAM user ARN, its key, admin ApiClient) with the aws cluster `eks-e2e`."""
    plane, kube_cluster = eks_env
    arn, key = add_trusted_aws_cluster(plane, example_fleet, age_key, "eks-e2e")
    admin = kube_cluster.api_client()
    yield load_fleet(example_fleet, check_files=False), arn, key, admin
    admin.close()


def bind_cluster_role(admin: client.ApiClient, user: str, role: str = "cluster-admin") -> str:
    """What an EKS access entry amounts to: ClusterRole `role` for `user` (cluster-admin is
    AmazonEKSClusterAdminPolicy's)."""
    name = f"hub-ops-{uuid.uuid4().hex[:6]}"
    client.RbacAuthorizationV1Api(admin).create_cluster_role_binding(
        client.V1ClusterRoleBinding(
            metadata=client.V1ObjectMeta(name=name),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=role),
            subjects=[client.RbacV1Subject(kind="User", name=user, api_group="rbac.authorization.k8s.io")],
        )
    )
    return name


def test_a_namespace_and_a_helm_release_on_an_aws_cluster_through_sts(eks_fleet, eks_env, age_key, tmp_path):
    fleet, arn, key, admin = eks_fleet
    plane, kube_cluster = eks_env
    access = cluster_access(fleet, fleet.clusters["eks-e2e"], Sops(str(age_key.path)))
    assert access.server == kube_cluster.server_url  # DescribeCluster's endpoint and CA
    assert access.ca_pem == (kube_cluster.pki / "ca.crt").read_text()
    options = access.helm_options()  # helm gets the same API and in-memory token
    assert options["kube_apiserver"] == access.server and options["kube_token"].startswith("k8s-aws-v1.")
    assert key["AccessKey"]["SecretAccessKey"] not in repr(access)
    kube = KubeClient(access, "eks-e2e")
    namespace = f"eks-{uuid.uuid4().hex[:6]}"

    # authenticated as the IAM user, but not yet allowed: 403, not 401
    with pytest.raises(ApiException) as refused:
        kube.ensure_namespace(namespace)
    assert refused.value.status == 403 and arn in refused.value.body
    assert plane.reviews[-1]["user"]["username"] == arn

    bind_cluster_role(admin, arn)
    kube.ensure_namespace(namespace)
    assert client.CoreV1Api(admin).read_namespace(namespace).metadata.name == namespace

    assert install_tiny(access, tmp_path / "tiny", namespace, "eks") == "deployed"
    assert client.CoreV1Api(admin).read_namespaced_config_map("tiny", namespace).data == {"who": "eks"}


def test_a_token_signed_for_another_cluster_is_refused(eks_fleet, eks_env):
    _fleet, _arn, key, _admin = eks_fleet
    plane, kube_cluster = eks_env
    token, _expiry = EksClient(session_for(REGION, key)).token("some-other-cluster")
    config = kube_configuration(kube_cluster.server_url, (kube_cluster.pki / "ca.crt").read_bytes(), token)
    with client.ApiClient(config) as api, pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).list_namespace()
    assert refused.value.status == 401
    assert plane.reviews[-1] == {
        "authenticated": False,
        "error": "signature does not match (another cluster's token, or another secret)",
    }


def test_a_key_the_cluster_does_not_know_is_refused(eks_fleet, eks_env, aws_env):
    plane, kube_cluster = eks_env
    _arn, stranger = iam_user_key(aws_env.endpoint)  # a real IAM key, never trusted by the webhook
    session = boto3.Session(
        aws_access_key_id=stranger["AccessKey"]["AccessKeyId"],
        aws_secret_access_key=stranger["AccessKey"]["SecretAccessKey"],
        region_name=REGION,
    )
    token, _expiry = EksClient(session).token(plane.cluster_id)
    config = kube_configuration(kube_cluster.server_url, (kube_cluster.pki / "ca.crt").read_bytes(), token)
    with client.ApiClient(config) as api, pytest.raises(ApiException) as refused:
        client.CoreV1Api(api).list_namespace()
    assert refused.value.status == 401 and plane.reviews[-1]["authenticated"] is False


def test_without_a_key_the_default_credential_chain_signs(eks_env, aws_env, example_fleet):
    plane, kube_cluster = eks_env
    env = aws_env.env()
    plane.trust_key(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])  # what aws_env exports
    add_aws_cluster(example_fleet, "eks-chain", plane.cluster_id, None)
    fleet = load_fleet(example_fleet, check_files=False)
    kube = KubeClient(cluster_access(fleet, fleet.clusters["eks-chain"], Sops()), "eks-chain")
    reviewed = len(plane.reviews)
    assert kube.server_version().startswith("v1.20.")
    assert plane.reviews[reviewed:] and plane.reviews[-1]["authenticated"] is True  # the webhook said who
