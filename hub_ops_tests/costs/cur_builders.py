"""An example fleet with an AWS cluster, and CUR 2.0 rows by hand, for cases a person can
compute on paper."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hub_ops_dev.sample_cur import CUR_SCHEMA, NET_COLUMNS

ACCOUNT = "123456789012"
EKS = "aws-hubs-cluster"
DAY = dt.date(2026, 10, 5)
AWS_CLUSTER = f"""name: aws-hubs
provider: aws
aws: {{account: "{ACCOUNT}", clusterName: {EKS}, region: us-west-2}}
support:
  helm_chart_values_files: [support.values.yaml]
hubs:
- name: staging
  display_name: AWS hubs (staging)
  domain: staging.aws.example.org
  helm_chart: basehub
  helm_chart_values_files: [common.values.yaml]
- name: science
  display_name: Science hub
  namespace: science-hub
  domain: science.aws.example.org
  helm_chart: basehub
  helm_chart_values_files: [common.values.yaml]
"""


def fleet_with_aws(example: Path, root: Path) -> Path:
    """A copy of the example fleet with the cluster aws-hubs (hubs staging and science, the
    latter in namespace science-hub) in account ACCOUNT, EKS cluster EKS."""
    shutil.copytree(example, root)
    folder = root / "clusters" / "aws-hubs"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(AWS_CLUSTER)
    for name in ("support.values.yaml", "common.values.yaml"):
        (folder / name).write_text("{}\n")
    return root


def cur_row(
    cost: float,
    account: str = ACCOUNT,
    line_type: str = "Usage",
    operation: str = "RunInstances",
    tags: dict | None = None,
    resource: str = "",
    split: float | None = None,
    unused: float | None = None,
    day: dt.date = DAY,
    hour: int = 3,
    net: float | None = None,
    currency: str = "USD",
) -> dict:
    """One CUR 2.0 row; other columns get plausible constants."""
    start = dt.datetime.combine(day, dt.time(hour))
    row = {
        "bill_billing_period_start_date": dt.datetime.combine(day.replace(day=1), dt.time()),
        "bill_payer_account_id": "111122223333",
        "identity_line_item_id": f"{abs(hash((cost, resource, operation))):x}",
        "identity_time_interval": f"{start:%Y-%m-%dT%H}:00:00Z/{start + dt.timedelta(hours=1):%Y-%m-%dT%H}:00:00Z",
        "line_item_usage_account_id": account,
        "line_item_line_item_type": line_type,
        "line_item_usage_start_date": start,
        "line_item_usage_end_date": start + dt.timedelta(hours=1),
        "line_item_product_code": "AmazonEC2",
        "line_item_usage_type": "BoxUsage:r5.xlarge",
        "line_item_operation": operation,
        "line_item_resource_id": resource,
        "line_item_usage_amount": 1.0,
        "line_item_currency_code": currency,
        "line_item_unblended_cost": cost,
        "line_item_line_item_description": line_type,
        "product_region_code": "us-west-2",
        "pricing_public_on_demand_cost": cost,
        "resource_tags": list((tags or {}).items()),
        "split_line_item_parent_resource_id": "i-0abc" if split is not None else None,
        "split_line_item_split_usage_ratio": 0.25 if split is not None else None,
        "split_line_item_split_cost": split,
        "split_line_item_unused_cost": unused,
    }
    if net is not None:
        row |= {"line_item_net_unblended_cost": net, "split_line_item_net_split_cost": None}
        row["split_line_item_net_unused_cost"] = None
    return row


def pod(namespace: str | None, split: float, unused: float, cluster: str | None = EKS, arn_namespace: str = "") -> dict:
    """A split cost allocation pod row (cost 0); namespace None: only the pod ARN names it."""
    tags = {}
    if cluster:
        tags["aws_eks_cluster_name"] = cluster
    if namespace:
        tags["aws_eks_namespace"] = namespace
    arn = f"arn:aws:eks:us-west-2:{ACCOUNT}:pod/{EKS}/{namespace or arn_namespace}/jupyter-x/0a1b2c"
    return cur_row(0.0, operation="EKSPod-EC2", tags=tags, resource=arn, split=split, unused=unused)


def write_cur(path: Path, rows: list[dict], net: bool = False) -> str:
    schema = pa.schema(list(CUR_SCHEMA) + (NET_COLUMNS if net else []))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return str(path)
