"""A deterministic AWS CUR 2.0 export (Data Exports, Parquet) with split cost allocation data for EKS.

Per day, for every `provider: aws` cluster of a fleet: EC2 instance rows of its nodes (tagged by
eksctl), pod rows (`EKSPod-EC2`, cost 0, split and unused cost) for every hub namespace,
`support` and `kube-system` (the first hub's pods without the `aws_eks_namespace` tag, so the pod
ARN is what names their namespace), the EKS control plane fee, home EFS tagged with the hub
(`2i2c:hub-name`), a NAT gateway without tags; per account a Tax, a Credit and a Refund line; and
strays a report must keep: a pod namespace no hub owns, an EKS cluster the fleet does not know,
an account outside the fleet. Same fleet, seed and day -> same rows. numpy + pyarrow `take` on a
table of row templates: millions of rows in seconds.

`write_export` lays files out as Data Exports does:
`<folder>/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-00001.snappy.parquet`.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hub_ops.fleet import Fleet
from hub_ops_dev.sample_billing import draw_rows

TAGS = pa.map_(pa.string(), pa.string())
CUR_SCHEMA = pa.schema(
    [
        ("bill_billing_period_start_date", pa.timestamp("ms")),
        ("bill_payer_account_id", pa.string()),
        ("identity_line_item_id", pa.string()),
        ("identity_time_interval", pa.string()),
        ("line_item_usage_account_id", pa.string()),
        ("line_item_line_item_type", pa.string()),
        ("line_item_usage_start_date", pa.timestamp("ms")),
        ("line_item_usage_end_date", pa.timestamp("ms")),
        ("line_item_product_code", pa.string()),
        ("line_item_usage_type", pa.string()),
        ("line_item_operation", pa.string()),
        ("line_item_resource_id", pa.string()),
        ("line_item_usage_amount", pa.float64()),
        ("line_item_currency_code", pa.string()),
        ("line_item_unblended_cost", pa.float64()),
        ("line_item_line_item_description", pa.string()),
        ("product_region_code", pa.string()),
        ("pricing_public_on_demand_cost", pa.float64()),
        ("resource_tags", TAGS),
        ("split_line_item_parent_resource_id", pa.string()),
        ("split_line_item_split_usage_ratio", pa.float64()),
        ("split_line_item_split_cost", pa.float64()),
        ("split_line_item_unused_cost", pa.float64()),
    ]
)
NET_COLUMNS = [
    ("line_item_net_unblended_cost", pa.float64()),
    ("split_line_item_net_split_cost", pa.float64()),
    ("split_line_item_net_unused_cost", pa.float64()),
]
PAYER = "111122223333"
UNKNOWN_ACCOUNT = "999988887777"
UNKNOWN_NAMESPACE_EXAMPLE = "scratch-tests"
UNUSED_SHARE = 0.3  # the unrequested part of a node, as split cost allocation reports it
NET_DISCOUNT = 0.05  # the net columns: an enterprise discount on usage


@dataclass
class CurTemplate:
    """One kind of CUR row: everything but the amounts and the hour."""

    account: str
    line_type: str
    product: str
    usage_type: str
    operation: str
    resource: str
    tags: dict[str, str]
    hourly_cost: float  # line_item_unblended_cost (pod rows: split cost)
    weight: float
    pod: bool = False
    parent: str = ""
    diurnal: bool = False


def _instance(name: str) -> str:
    return f"i-{zlib.crc32(name.encode()):08x}{zlib.crc32(name[::-1].encode()):08x}"[:19]


def cur_templates(fleet: Fleet) -> list[CurTemplate]:
    """Row templates for every AWS cluster of the fleet, plus the strays a real export has."""
    out: list[CurTemplate] = []
    clusters = [c for c in fleet.clusters.values() if c.provider == "aws" and c.aws]
    for index, cluster in enumerate(clusters):
        account, name, region = str(cluster.aws.account), cluster.aws.clusterName, cluster.aws.region
        eksctl = {"user_alpha_eksctl_io_cluster_name": name}
        core, user = _instance(f"{name}-core"), _instance(f"{name}-user")
        for node, cost in ((core, 0.19), (user, 0.77)):
            out.append(
                CurTemplate(
                    account, "Usage", "AmazonEC2", "BoxUsage:r5.xlarge", "RunInstances", node, eksctl, cost, 2.0
                )
            )

        def pods(namespace: str, node: str, cost: float, weight: float, tagged: bool = True, diurnal: bool = False):
            tags = {"aws_eks_cluster_name": name, "aws_eks_node": node}
            if tagged:
                tags["aws_eks_namespace"] = namespace
            uid = f"{zlib.crc32(namespace.encode()):08x}"
            arn = f"arn:aws:eks:{region}:{account}:pod/{name}/{namespace}/jupyter-{namespace}-0/{uid}"
            for usage, share in (("EKS-EC2-vCPU-Hours", 0.6), ("EKS-EC2-GB-Hours", 0.4)):
                out.append(
                    CurTemplate(
                        account,
                        "Usage",
                        "AmazonEC2",
                        usage,
                        "EKSPod-EC2",
                        arn,
                        tags,
                        cost * share,
                        weight,
                        True,
                        node,
                        diurnal,
                    )
                )

        for number, hub in enumerate(cluster.hubs):
            heavy = 3.0 if hub.effective_tier == "prod" else 0.6
            pods(hub.effective_namespace, user, 0.3 * heavy, heavy, tagged=number != 0, diurnal=True)
            hub_tags = {"user_2i2c_hub_name": hub.name, "user_2i2c_org_cluster_name": name}
            out.append(
                CurTemplate(
                    account,
                    "Usage",
                    "AmazonEFS",
                    "TimedStorage-ByteHrs",
                    "Storage",
                    f"fs-{zlib.crc32(hub.id.encode()):08x}",
                    hub_tags,
                    0.04,
                    0.4,
                )
            )
        pods("support", core, 0.05, 1.0)
        pods("kube-system", core, 0.03, 1.0)
        out.append(
            CurTemplate(
                account,
                "Usage",
                "AmazonEKS",
                "AmazonEKS-Hours:perCluster",
                "CreateOperation",
                f"arn:aws:eks:{region}:{account}:cluster/{name}",
                eksctl,
                0.1,
                0.3,
            )
        )
        out.append(
            CurTemplate(
                account,
                "Usage",
                "AmazonEC2",
                "NatGateway-Hours",
                "NatGateway",
                f"nat-{zlib.crc32(name.encode()):08x}",
                {},
                0.045,
                0.3,
            )
        )
        if index == 0:
            out.append(
                CurTemplate(
                    account,
                    "Usage",
                    "AmazonEC2",
                    "BoxUsage:t3.large",
                    "RunInstances",
                    _instance(f"{name}-sandbox"),
                    {"user_alpha_eksctl_io_cluster_name": f"{name}-sandbox"},
                    0.08,
                    0.05,
                )
            )
            if cluster.hubs:  # a bucket tagged with the hub but not the cluster
                out.append(
                    CurTemplate(
                        account,
                        "Usage",
                        "AmazonS3",
                        "TimedStorage-ByteHrs",
                        "StandardStorage",
                        f"{name}-scratch",
                        {"user_2i2c_hub_name": cluster.hubs[0].name},
                        0.02,
                        0.2,
                    )
                )
        if index == len(clusters) - 1:
            pods(UNKNOWN_NAMESPACE_EXAMPLE, user, 0.02, 0.05)
    for account in sorted({str(c.aws.account) for c in clusters}):
        out.append(CurTemplate(account, "Tax", "AmazonEC2", "", "", "", {}, 0.5, 0.02))
        out.append(CurTemplate(account, "Credit", "AmazonEC2", "", "", "", {}, -0.8, 0.02))
        out.append(CurTemplate(account, "Refund", "AmazonS3", "", "", "", {}, -0.1, 0.01))
    out.append(
        CurTemplate(UNKNOWN_ACCOUNT, "Usage", "AmazonS3", "Requests-Tier1", "PutObject", "other-bucket", {}, 0.01, 0.05)
    )
    return out


def _template_table(templates: list[CurTemplate]) -> pa.Table:
    return pa.table(
        {
            "line_item_usage_account_id": [t.account for t in templates],
            "line_item_line_item_type": [t.line_type for t in templates],
            "line_item_product_code": [t.product for t in templates],
            "line_item_usage_type": [t.usage_type for t in templates],
            "line_item_operation": [t.operation for t in templates],
            "line_item_resource_id": [t.resource for t in templates],
            "line_item_line_item_description": [f"{t.line_type} {t.usage_type}".strip() for t in templates],
            "resource_tags": pa.array([list(t.tags.items()) for t in templates], TAGS),
            "split_line_item_parent_resource_id": [t.parent or None for t in templates],
        }
    )


@dataclass
class CurGenerator:
    """Days of a CUR 2.0 export for a fleet's AWS clusters (see the module docstring)."""

    fleet: Fleet
    seed: int = 0
    net: bool = False  # add the line_item_net_unblended_cost and split net columns
    templates: list[CurTemplate] = field(init=False)

    def __post_init__(self) -> None:
        self.templates = cur_templates(self.fleet)
        self._table = _template_table(self.templates)
        weights = np.array([t.weight for t in self.templates])
        self._weights = weights / weights.sum()
        self._hourly = np.array([t.hourly_cost for t in self.templates])
        self._diurnal = np.array([t.diurnal for t in self.templates])
        self._pod = np.array([t.pod for t in self.templates])
        self._usage = np.array([t.line_type == "Usage" for t in self.templates])

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(list(CUR_SCHEMA) + (NET_COLUMNS if self.net else []))

    def day(self, day: dt.date, rows: int) -> pa.Table:
        """The rows whose usage starts on `day` (UTC), sorted by line_item_usage_start_date."""
        rng = np.random.default_rng([self.seed, day.toordinal(), 2])
        template, hour, activity = draw_rows(rng, self._weights, self._diurnal, day, rows)
        amount = np.round(self._hourly[template] * activity * rng.lognormal(0.0, 0.5, size=rows), 10)
        pod = self._pod[template]
        split = np.where(pod, amount, np.nan)
        unused = np.where(pod, np.round(amount * UNUSED_SHARE, 10), np.nan)
        cost = np.where(pod, 0.0, amount)
        start = np.datetime64(day, "ms") + hour.astype("timedelta64[h]")
        period = np.datetime64(day.replace(day=1), "ms")
        stamps = [
            np.datetime_as_string(np.datetime64(day, "h") + np.timedelta64(h, "h"), unit="s") + "Z" for h in range(25)
        ]
        base = self._table.take(pa.array(template))
        columns = {
            **{name: base[name] for name in base.column_names},
            "bill_billing_period_start_date": pa.array(np.full(rows, period)),
            "bill_payer_account_id": pa.array([PAYER] * rows),
            "identity_line_item_id": pa.array([f"{v:016x}" for v in rng.integers(0, 2**63, size=rows, dtype=np.int64)]),
            "identity_time_interval": pa.array(
                np.char.add(np.char.add(np.array(stamps)[hour], "/"), np.array(stamps)[hour + 1])
            ),
            "line_item_usage_start_date": pa.array(start),
            "line_item_usage_end_date": pa.array(start + np.timedelta64(1, "h")),
            "line_item_usage_amount": pa.array(np.where(pod, 0.0, np.abs(amount) * 10)),
            "line_item_currency_code": pa.array(["USD"] * rows),
            "line_item_unblended_cost": pa.array(cost),
            "product_region_code": pa.array(["us-west-2"] * rows),
            "pricing_public_on_demand_cost": pa.array(np.abs(cost)),
            "split_line_item_split_usage_ratio": pa.array(np.where(pod, 0.25, np.nan), from_pandas=True),
            "split_line_item_split_cost": pa.array(split, from_pandas=True),
            "split_line_item_unused_cost": pa.array(unused, from_pandas=True),
        }
        if self.net:
            discount = np.where(self._usage[template], 1 - NET_DISCOUNT, 1.0)
            columns["line_item_net_unblended_cost"] = pa.array(np.round(cost * discount, 10))
            columns["split_line_item_net_split_cost"] = pa.array(np.round(split * discount, 10), from_pandas=True)
            columns["split_line_item_net_unused_cost"] = pa.array(np.round(unused * discount, 10), from_pandas=True)
        schema = self.schema
        return pa.table([columns[f.name] for f in schema], schema=schema)

    def days(self, start: dt.date, days: int, rows_per_day: int) -> Iterator[pa.Table]:
        for offset in range(days):
            yield self.day(start + dt.timedelta(days=offset), rows_per_day)


def export_file(folder: str, month: dt.date, export: str = "hub-ops-cur") -> str:
    """Where Data Exports puts a month's first file."""
    return f"{folder.rstrip('/')}/{export}/data/BILLING_PERIOD={month:%Y-%m}/{export}-00001.snappy.parquet"


def write_export(tables: Iterable[pa.Table], folder: str, storage=None, export: str = "hub-ops-cur") -> int:
    """Writes the days, a file per billing period and a row group per day; returns the rows."""
    from hub_ops.clients.storage import Storage

    storage = storage or Storage()
    rows, writer, month, handle = 0, None, None, None
    try:
        for table in tables:
            day = table.column("line_item_usage_start_date")[0].as_py().date()
            if day.replace(day=1) != month:
                if writer:
                    writer.close()
                    handle.close()
                month = day.replace(day=1)
                fs, path = storage.filesystem(export_file(folder, month, export))
                fs.makedirs(fs._parent(path), exist_ok=True)
                handle = fs.open(path, "wb")
                writer = pq.ParquetWriter(handle, table.schema, compression="snappy")
            writer.write_table(table, row_group_size=max(1, table.num_rows))
            rows += table.num_rows
    finally:
        if writer:
            writer.close()
            handle.close()
    return rows
