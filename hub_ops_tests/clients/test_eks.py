"""EKS access: the access key decrypted from the fleet's sops file, eks:DescribeCluster and
STS against moto's real server (AWS_ENDPOINT_URL), the `k8s-aws-v1.` token decoded and
its presigned URL sent to STS as an EKS API server's authenticator sends it."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.eks import EksClient
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.clients.sops import Sops
from hub_ops.fleet import load_fleet
from hub_ops_dev.stack.eks_webhook import EksControlPlane
from hub_ops_dev.stack.moto import MOTO_ACCOUNT, REGION


def decode_token(token: str) -> tuple[str, dict[str, str]]:
    """The presigned URL inside an EKS token and its query parameters (as EKS decodes it)."""
    prefix, _, body = token.partition(".")
    assert prefix == "k8s-aws-v1"
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    return url, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def iam_user_key(endpoint: str) -> tuple[str, dict]:
    """A new IAM user on moto and its access key, as `aws iam create-access-key` prints it."""
    iam = boto3.client("iam", endpoint_url=endpoint)
    user = f"deployer-{uuid.uuid4().hex[:6]}"
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return arn, {"AccessKey": {k: str(v) for k, v in key.items()}}


def eks_cluster(endpoint: str) -> dict:
    name = f"eks-{uuid.uuid4().hex[:6]}"
    eks = boto3.client("eks", endpoint_url=endpoint)
    eks.create_cluster(name=name, roleArn=f"arn:aws:iam::{MOTO_ACCOUNT}:role/eks", resourcesVpcConfig={})
    return eks.describe_cluster(name=name)["cluster"]


def add_aws_cluster(fleet_root: Path, name: str, cluster_name: str, key_file: str | None, account=MOTO_ACCOUNT):
    folder = fleet_root / "clusters" / name
    folder.mkdir(parents=True)
    aws = {"account": account, "clusterName": cluster_name, "region": REGION} | ({"key": key_file} if key_file else {})
    doc = {"name": name, "provider": "aws", "aws": aws, "support": {"helm_chart_values_files": []}, "hubs": []}
    (folder / "cluster.yaml").write_text(yaml.safe_dump(doc))
    return folder


@pytest.fixture
def aws_fleet(example_fleet, aws_env, age_key):
    """The example fleet plus an aws cluster `eks-test` whose key file is a sops-encrypted
    moto IAM access key; yields (fleet root, the EKS cluster as moto describes it, user ARN, key)."""
    arn, key = iam_user_key(aws_env.endpoint)
    described = eks_cluster(aws_env.endpoint)
    folder = add_aws_cluster(example_fleet, "eks-test", described["name"], "enc-deployer-credentials.secret.json")
    (folder / "enc-deployer-credentials.secret.json").write_text(json.dumps(key))
    age_key.encrypt(folder / "enc-deployer-credentials.secret.json")
    return example_fleet, described, arn, key


def test_token_is_a_presigned_get_caller_identity_bound_to_the_cluster(aws_env):
    arn, key = iam_user_key(aws_env.endpoint)
    session = boto3.Session(
        aws_access_key_id=key["AccessKey"]["AccessKeyId"],
        aws_secret_access_key=key["AccessKey"]["SecretAccessKey"],
        region_name=REGION,
    )
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    token, expiry = EksClient(session).token("pangeo")
    url, query = decode_token(token)

    assert query["Action"] == "GetCallerIdentity" and query["X-Amz-Expires"] == "60"
    assert query["X-Amz-SignedHeaders"].split(";") == ["host", "x-k8s-aws-id"]
    assert query["X-Amz-Credential"].startswith(key["AccessKey"]["AccessKeyId"] + "/")
    signed = dt.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    assert before <= signed and signed < expiry <= signed + dt.timedelta(minutes=15)
    assert key["AccessKey"]["SecretAccessKey"] not in url
    # what EKS's authenticator does with it: check it, then GET the URL from STS with its
    # own cluster id header; a token for another cluster no longer matches its signature
    authenticator = EksControlPlane(aws_env.endpoint, cluster_id="pangeo")
    authenticator.trust_key(key["AccessKey"]["AccessKeyId"], key["AccessKey"]["SecretAccessKey"])
    assert authenticator.authenticate(token)["user"]["username"] == arn
    authenticator.cluster_id = "leap"
    assert authenticator.authenticate(token) == {
        "authenticated": False,
        "error": "signature does not match (another cluster's token, or another secret)",
    }


def test_the_fleets_encrypted_key_is_used_and_a_bad_ca_is_named(aws_fleet, age_key):
    """moto's DescribeCluster answers a CA that is not a certificate: hub_ops says so (the
    good path, to a real apiserver, is test_eks_kube.py)."""
    root, described, _arn, key = aws_fleet
    assert "BEGIN CERTIFICATE" not in base64.b64decode(described["certificateAuthority"]["data"] + "==")[:40].decode(
        errors="replace"
    )
    fleet = load_fleet(root, check_files=False)
    with pytest.raises(ClusterUnreachable) as raised:
        cluster_access(fleet, fleet.clusters["eks-test"], Sops(str(age_key.path)))
    assert str(raised.value) == (
        f"cluster eks-test: EKS cluster {described['name']}: certificateAuthority.data is not a base64 PEM certificate"
    )
    assert key["AccessKey"]["SecretAccessKey"] not in str(raised.value)


def test_no_credentials_at_all_says_where_they_are_looked_for(example_fleet, aws_env, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    add_aws_cluster(example_fleet, "eks-none", "nowhere", None)
    fleet = load_fleet(example_fleet, check_files=False)
    with pytest.raises(
        ClusterUnreachable, match=r"cluster eks-none: no AWS credentials: .*aws\.key.*AWS_ACCESS_KEY_ID"
    ):
        cluster_access(fleet, fleet.clusters["eks-none"], Sops())


def test_a_missing_key_file_is_named(example_fleet, aws_env):
    add_aws_cluster(example_fleet, "eks-lost", "lost", "enc-gone.secret.json")
    fleet = load_fleet(example_fleet, check_files=False)
    with pytest.raises(
        ClusterUnreachable, match=r"cluster eks-lost: aws\.key file not found: clusters/eks-lost/enc-gone"
    ):
        cluster_access(fleet, fleet.clusters["eks-lost"], Sops())


def test_a_key_of_the_wrong_shape_is_named_without_its_content(aws_fleet, age_key):
    root, _described, _arn, key = aws_fleet
    path = root / "clusters" / "eks-test" / "enc-deployer-credentials.secret.json"
    path.write_text(json.dumps({"AccessKeyId": key["AccessKey"]["AccessKeyId"], "Secret": "s3cr3t-value"}))
    age_key.encrypt(path)
    fleet = load_fleet(root, check_files=False)
    with pytest.raises(ClusterUnreachable) as raised:
        cluster_access(fleet, fleet.clusters["eks-test"], Sops(str(age_key.path)))
    assert "enc-deployer-credentials.secret.json: expected AccessKey.AccessKeyId" in str(raised.value)
    assert "s3cr3t-value" not in str(raised.value)


def test_credentials_of_another_account_are_refused(example_fleet, aws_env):
    described = eks_cluster(aws_env.endpoint)
    add_aws_cluster(example_fleet, "eks-other", described["name"], None, account=790657130469)
    fleet = load_fleet(example_fleet, check_files=False)
    with pytest.raises(ClusterUnreachable, match=f"account {MOTO_ACCOUNT}, cluster.yaml aws.account is 790657130469"):
        cluster_access(fleet, fleet.clusters["eks-other"], Sops())


def test_an_unknown_eks_cluster_is_reported_by_eks(example_fleet, aws_env):
    add_aws_cluster(example_fleet, "eks-ghost", f"ghost-{uuid.uuid4().hex[:6]}", None)
    fleet = load_fleet(example_fleet, check_files=False)
    with pytest.raises(ClusterUnreachable, match=r"cluster eks-ghost: DescribeCluster: ResourceNotFoundException"):
        cluster_access(fleet, fleet.clusters["eks-ghost"], Sops())
