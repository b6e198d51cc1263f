"""Amazon EKS through boto3: a cluster's endpoint and CA (eks:DescribeCluster) and the bearer
token EKS's API server accepts, made as `aws eks get-token` and aws-iam-authenticator make
it: a presigned STS GetCallerIdentity URL whose signature covers the header
`x-k8s-aws-id: <cluster name>`, so a token for one cluster is refused by another.

Credentials: the cluster's decrypted access key (cluster.yaml `aws.key`, the JSON
`aws iam create-access-key` prints), held in memory only; without one, boto3's default
chain (environment, profile, IRSA web identity, EKS Pod Identity). Endpoints come from the
SDK's standard environment (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EKS, ...): tests point them
at moto. Read-only: nothing here changes a cluster. Keys and tokens never reach a message.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
from typing import Any

import boto3
import botocore.exceptions

from hub_ops.clients import kube
from hub_ops.fleet.models import Cluster
from hub_ops.fleet.observed import ClusterState, NodePoolState, NodeState, UpgradeState, minor_of, nodes_per_pool

SOURCE = "EKS API"
TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
PRESIGN_EXPIRES_S = 60  # what aws-iam-authenticator sends; EKS itself honours 15 min from X-Amz-Date
TOKEN_LIFE = dt.timedelta(minutes=14)  # as `aws eks get-token` reports: a minute short of EKS's 15


class EksError(RuntimeError):
    """EKS or STS could not be used; the message says why and is safe to show."""


def session_for(region: str, key: dict | None = None, key_name: str = "aws.key") -> boto3.Session:
    """A boto3 session in `region`: from `key` (`{"AccessKey": {"AccessKeyId", "SecretAccessKey",
    "SessionToken"?}}`) when given, else the default credential chain."""
    if key is None:
        return boto3.Session(region_name=region)
    access = key.get("AccessKey") if isinstance(key, dict) else None
    if not isinstance(access, dict) or not access.get("AccessKeyId") or not access.get("SecretAccessKey"):
        raise EksError(
            f"{key_name}: expected AccessKey.AccessKeyId and AccessKey.SecretAccessKey "
            "(the JSON `aws iam create-access-key` prints)"
        )
    return boto3.Session(
        aws_access_key_id=access["AccessKeyId"],
        aws_secret_access_key=access["SecretAccessKey"],
        aws_session_token=access.get("SessionToken"),
        region_name=region,
    )


def describe_error(error: Exception) -> str:
    """A person's sentence for a boto3 failure (AWS's error messages carry no secrets)."""
    if isinstance(error, EksError):
        return str(error)
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return (
            "no AWS credentials: cluster.yaml has no aws.key and the default chain found none "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, IRSA, EKS Pod Identity)"
        )
    if isinstance(error, botocore.exceptions.ClientError):
        info = error.response.get("Error", {})
        return f"{error.operation_name}: {info.get('Code', '?')}: {info.get('Message', '')}".strip()
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return f"AWS API not reachable: {error}"
    return f"AWS API failed: {type(error).__name__}"


class EksClient:
    """One AWS session's view of EKS: describe_cluster, node groups, and cluster tokens."""

    def __init__(self, session: boto3.Session):
        self.session = session
        self.eks = session.client("eks")
        self.sts = session.client("sts")
        self.sts.meta.events.register("before-sign.sts.GetCallerIdentity", self._add_cluster_id)
        self._cluster_id: str | None = None  # the cluster the token being signed is for
        self._signing = threading.Lock()

    def _add_cluster_id(self, request, **_kwargs) -> None:
        if self._cluster_id:
            request.headers[CLUSTER_ID_HEADER] = self._cluster_id

    def account(self) -> str:
        return self.sts.get_caller_identity()["Account"]

    def describe_cluster(self, name: str) -> dict[str, Any]:
        return self.eks.describe_cluster(name=name)["cluster"]

    def nodegroups(self, cluster_name: str) -> list[dict[str, Any]]:
        """Every managed node group, described (instance types, scaling, version, status)."""
        names = [
            n
            for page in self.eks.get_paginator("list_nodegroups").paginate(clusterName=cluster_name)
            for n in page["nodegroups"]
        ]
        return [self.eks.describe_nodegroup(clusterName=cluster_name, nodegroupName=n)["nodegroup"] for n in names]

    def cluster_versions(self) -> list[dict[str, Any]]:
        """EKS's Kubernetes versions with their support dates (DescribeClusterVersions, all of them)."""
        return [
            v
            for page in self.eks.get_paginator("describe_cluster_versions").paginate(includeAll=True)
            for v in page["clusterVersions"]
        ]

    def token(self, cluster_name: str) -> tuple[str, dt.datetime]:
        """A kube.TokenSource: a `k8s-aws-v1.` token for `cluster_name` and when to stop using
        it. Signed offline: no request is sent."""
        signed_at = dt.datetime.now(dt.UTC)
        with self._signing:
            self._cluster_id = cluster_name
            try:
                url = self.sts.generate_presigned_url(
                    "get_caller_identity", Params={}, ExpiresIn=PRESIGN_EXPIRES_S, HttpMethod="GET"
                )
            finally:
                self._cluster_id = None
        return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("="), signed_at + TOKEN_LIFE


def _pem(data: str, name: str) -> str:
    try:
        pem = base64.b64decode(data, validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError both are
        pem = ""
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise EksError(f"EKS cluster {name}: certificateAuthority.data is not a base64 PEM certificate")
    return pem


def cluster_access(cluster: Cluster, key: dict | None = None, *, session: boto3.Session | None = None):
    """How deploys reach an aws cluster's Kubernetes API (hub_ops.clients.clusters calls it):
    endpoint and CA from eks:DescribeCluster, a bearer token signed with the cluster's
    decrypted access key (`key`) or the default chain, signed anew before it expires.

    Checks first that the credentials belong to cluster.yaml's `aws.account`. Raises
    ClusterUnreachable with a reason safe to show (never the key or the token).
    """
    aws = cluster.aws
    assert aws is not None, f"{cluster.name}: not an aws cluster"
    try:
        client = EksClient(session or session_for(aws.region, key, f"cluster {cluster.name}: {aws.key}"))
        account = client.account()
        if account != str(aws.account):
            raise EksError(
                f"the credentials belong to AWS account {account}, cluster.yaml aws.account is {aws.account}"
            )
        return _access(client, aws.clusterName, client.describe_cluster(aws.clusterName))
    except Exception as e:  # noqa: BLE001 - any failure is "cannot reach", said plainly
        raise kube.ClusterUnreachable(f"cluster {cluster.name}: {describe_error(e)}") from None


def _access(client: EksClient, name: str, described: dict[str, Any]) -> kube.ClusterAccess:
    endpoint, ca = described.get("endpoint"), (described.get("certificateAuthority") or {}).get("data")
    if not endpoint or not ca:
        raise EksError(f"EKS cluster {name} has no endpoint yet (status {described.get('status')})")
    return kube.ClusterAccess(
        server=endpoint, tokens=kube.RefreshingToken(lambda: client.token(name)), ca_pem=_pem(ca, name)
    )


def observe(cluster: Cluster, key: dict | None = None, *, list_nodes: bool = True, session=None) -> ClusterState:
    """The state of an aws-provider cluster: status, version, platform version, managed node
    groups, support dates (DescribeClusterVersions), and (list_nodes) node counts per group
    from its Kubernetes API. Never raises for an API error: comes back reachable=False and why."""
    aws = cluster.aws
    assert aws is not None, f"{cluster.name}: not an aws cluster"
    try:
        client = EksClient(session or session_for(aws.region, key, f"cluster {cluster.name}: {aws.key}"))
        described = client.describe_cluster(aws.clusterName)
        groups = client.nodegroups(aws.clusterName)
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable", said plainly
        return ClusterState.unreachable(cluster, SOURCE, describe_error(e))
    notes = []
    try:
        versions = client.cluster_versions()
    except Exception as e:  # noqa: BLE001 - optional: older permissions lack it
        versions = None
        notes.append(f"support dates not fetched: {describe_error(e)}")
    nodes = None
    if list_nodes:
        from hub_ops.clients.kube_observe import list_nodes_or_note

        def api():
            return _access(client, aws.clusterName, described).api_client()

        nodes = list_nodes_or_note(api, described.get("endpoint"), notes)
    return cluster_state(cluster, described, groups, versions, nodes, notes)


def _date(value) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else None


def cluster_state(
    cluster: Cluster,
    described: dict[str, Any],
    groups: list[dict[str, Any]],
    versions: list[dict[str, Any]] | None,
    nodes: list[NodeState] | None,
    notes: list[str] | None = None,
) -> ClusterState:
    """Turn EKS answers (and the nodes, when listed) into a ClusterState. The "channel" of an
    EKS cluster is its version's support phase and its upgrade policy (EKS has no channels)."""
    notes = list(notes or [])
    per_group = nodes_per_pool(nodes)
    pools = []
    for g in groups:
        scaling = g.get("scalingConfig") or {}
        pools.append(
            NodePoolState(
                name=g["nodegroupName"],
                version=g.get("version"),
                status=g.get("status"),
                machine_type=", ".join(g.get("instanceTypes") or []) or None,
                autoscaling=scaling.get("minSize") != scaling.get("maxSize"),
                min_nodes=scaling.get("minSize"),
                max_nodes=scaling.get("maxSize"),
                node_count=per_group.get(g["nodegroupName"], 0) if nodes is not None else None,
            )
        )
    version = described.get("version")
    upgrade, phase = None, None
    if versions is not None:
        mine = next((v for v in versions if v.get("clusterVersion") == version), None)
        newer = sorted(
            {
                v["clusterVersion"]
                for v in versions
                if (minor_of(v.get("clusterVersion")) or (0, 0)) > (minor_of(version) or (0, 0))
            },
            key=minor_of,
        )
        if newer:
            notes.append(f"newer EKS versions: {', '.join(newer)}")
        if mine is None:
            notes.append(f"EKS does not list version {version}")
        else:
            phase = mine.get("versionStatus") or mine.get("status")
            upgrade = UpgradeState(
                end_of_standard_support=_date(mine.get("endOfStandardSupportDate")),
                end_of_extended_support=_date(mine.get("endOfExtendedSupportDate")),
            )
    policy = (described.get("upgradePolicy") or {}).get("supportType")
    channel = ", ".join(x for x in (phase, f"upgrade policy {policy}" if policy else None) if x) or None
    return ClusterState(
        cluster=cluster.name,
        provider=cluster.provider,
        source=SOURCE,
        reachable=True,
        status=described.get("status"),
        master_version=version,
        platform_version=described.get("platformVersion"),
        release_channel=channel,
        node_pools=pools,
        nodes=nodes,
        node_count=len(nodes)
        if nodes is not None
        else sum((g.get("scalingConfig") or {}).get("desiredSize", 0) for g in groups),
        upgrade=upgrade,
        notes=notes,
    )
