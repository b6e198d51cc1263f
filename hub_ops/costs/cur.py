"""AWS Cost and Usage Report 2.0 (Data Exports, Parquet) with split cost allocation data for EKS.

Sources (AWS documentation, read for this module): the CUR 2.0 table dictionary
(https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html: line_item_*,
resource_tags as map<string, string> of the activated cost allocation tags, `user_` prefixed and
`:`/`.`/`-` folded to `_`), its split line item columns
(https://docs.aws.amazon.com/cur/latest/userguide/split-line-item-columns.html) and "Understanding
split cost allocation data" (https://docs.aws.amazon.com/cur/latest/userguide/split-cost-allocation-data.html):
for each EC2 instance hour of an EKS node, one row per pod with `line_item_operation = EKSPod-EC2`,
`line_item_unblended_cost = 0`, the pod ARN as `line_item_resource_id`
(arn:aws:eks:REGION:ACCOUNT:pod/CLUSTER/NAMESPACE/POD/UID), the tags `aws_eks_cluster_name` and
`aws_eks_namespace`, `split_line_item_split_cost` (the pod's share of the instance) and
`split_line_item_unused_cost` (the unrequested capacity, spread over the pods); the instance row
itself keeps its full cost. Files land under `<prefix>/<export>/data/BILLING_PERIOD=YYYY-MM/`.

Rules (hub_ops; the README states them for people):
- a row's amount is `line_item_net_unblended_cost` when the file has it, else
  `line_item_unblended_cost`; Credit, Refund and *Discount line item types go to `credits`, the
  rest (Tax, Fee, SavingsPlanNegation, ...) to `cost`: nothing is dropped, so the lines add up to
  the export's total of that column;
- project = `line_item_usage_account_id`; cluster = the tag `aws_eks_cluster_name`, else the
  eksctl tag (`alpha.eksctl.io/cluster-name`) or 2i2c's (`2i2c.org/cluster-name`), else (pod
  rows) the pod ARN's cluster;
- a pod row's split cost goes to its namespace (tag `aws_eks_namespace`, else the pod ARN's),
  its unused cost to the cluster's `idle` line (namespace UNUSED_NAMESPACE), and both are taken
  off the cluster's node rows (namespace "": `cluster-unattributed`), so an instance is counted
  once: what is left there is the part of the nodes split cost allocation did not split;
- a row tagged `2i2c:hub-name` (and not a pod row) is the hub's direct cost (namespace
  HUB_TAG_PREFIX + hub): home EFS, buckets.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hub_ops.clients.storage import Storage
from hub_ops.costs.crosscheck import ExportNet, cur_net
from hub_ops.costs.errors import BillingExportError
from hub_ops.costs.usage import (
    GROUP_KEYS,
    SUMS,
    TOTAL_KEYS,
    Usage,
    UsageAccumulator,
    day_number,
    label_values,
    sum_by,
    to_nanos,
    usage_days,
)

TIME = "line_item_usage_start_date"
ACCOUNT = "line_item_usage_account_id"
LINE_TYPE = "line_item_line_item_type"
OPERATION = "line_item_operation"
RESOURCE = "line_item_resource_id"
CURRENCY = "line_item_currency_code"
UNBLENDED = "line_item_unblended_cost"
NET_UNBLENDED = "line_item_net_unblended_cost"
SPLIT = "split_line_item_split_cost"
UNUSED = "split_line_item_unused_cost"
NET_SPLIT = "split_line_item_net_split_cost"
NET_UNUSED = "split_line_item_net_unused_cost"
TAGS = "resource_tags"

POD_OPERATION = "EKSPod-EC2"
CLUSTER_TAGS = ("aws_eks_cluster_name", "user_alpha_eksctl_io_cluster_name", "user_2i2c_org_cluster_name")
NAMESPACE_TAG = "aws_eks_namespace"
HUB_TAG = "user_2i2c_hub_name"
CREDIT_TYPES = ("Credit", "Refund", "Discount", "BundledDiscount", "EdpDiscount", "PrivateRateDiscount")
UNUSED_NAMESPACE = "eks:unused"  # report line `idle`
HUB_TAG_PREFIX = "hub-tag:"  # report namespace of rows matched by the hub tag
REQUIRED = (TIME, ACCOUNT, LINE_TYPE, OPERATION, CURRENCY, UNBLENDED, TAGS)
_PERIOD = re.compile(r"BILLING_PERIOD=(\d{4})-(\d{2})")


def amount_columns(names: list[str] | set[str]) -> tuple[str, str, str]:
    """(amount, split, unused) columns of a file: the net ones where the export has them."""
    if NET_UNBLENDED in names:
        return (
            NET_UNBLENDED,
            (NET_SPLIT if NET_SPLIT in names else SPLIT),
            (NET_UNUSED if NET_UNUSED in names else UNUSED),
        )
    return UNBLENDED, SPLIT, UNUSED


def period_overlaps(path: str, start: dt.date, end: dt.date) -> bool:
    """False only for a file under a BILLING_PERIOD=YYYY-MM folder of a month outside [start, end)."""
    match = _PERIOD.search(path)
    if not match:
        return True
    month = dt.date(int(match[1]), int(match[2]), 1)
    following = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return month < end and following > start


@dataclass(frozen=True)
class CurExport:
    """A CUR 2.0 export: a Parquet file, or every Parquet file under a folder URL."""

    url: str
    storage: Storage = Storage()
    provider: str = "aws"

    @property
    def description(self) -> str:
        return self.url

    def files(self, start: dt.date, end: dt.date) -> list[str]:
        fs, path = self.storage.filesystem(self.url)
        if not fs.exists(path):
            raise BillingExportError(f"{self.url}: no such file or folder (the CUR 2.0 export)")
        found = sorted(fs.find(path)) if fs.isdir(path) else [path]
        parquet = [p for p in found if p.endswith(".parquet")]
        if not parquet:
            raise BillingExportError(f"{self.url}: no .parquet files there (a CUR 2.0 Data Export in Parquet)")
        return [p for p in parquet if period_overlaps(p, start, end)]

    def aggregate(self, start: dt.date, end: dt.date, progress=None) -> Usage:
        """The usage of [start, end) (UTC days of line_item_usage_start_date)."""
        accumulator = UsageAccumulator(self.url, start, end, provider=self.provider)
        low, high = day_number(start), day_number(end)
        for where, batch, columns in self._batches(start, end, progress):
            try:
                reduced = reduce_cur(batch, columns, low, high)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
                raise BillingExportError(f"{where}: cannot read the CUR rows: {e}") from None
            accumulator.rows_read += batch.num_rows
            if reduced is not None:
                accumulator.add_groups(*reduced, where=where)
        return accumulator.result()

    def independent_net(self, start: dt.date, end: dt.date) -> ExportNet:
        """The reconciliation check's second read (hub_ops.costs.crosscheck.cur_net)."""
        return cur_net(self.url, self.storage, start, end)

    def _batches(self, start: dt.date, end: dt.date, progress) -> Iterator[tuple[str, pa.Table, tuple]]:
        fs, _ = self.storage.filesystem(self.url)
        low = dt.datetime.combine(start, dt.time())
        high = dt.datetime.combine(end, dt.time())
        files = self.files(start, end)
        for number, path in enumerate(files, 1):
            where = fs.unstrip_protocol(path)
            with fs.open(path, "rb") as handle:
                file = pq.ParquetFile(handle)
                names = file.schema_arrow.names
                missing = [c for c in REQUIRED if c not in names]
                if missing:
                    raise BillingExportError(
                        f"{where}: column(s) {', '.join(missing)} missing; is this a CUR 2.0 export (Data Exports)?"
                    )
                columns = amount_columns(names)
                wanted = [c for c in (*REQUIRED, RESOURCE, *columns) if c in names]
                # CUR strings repeat (accounts, types, tags, a pod's ARN every hour): read as
                # dictionaries, so lookups and the ARN parsing run on the distinct values only
                leaves = [file.schema.column(i).path for i in range(file.metadata.num_columns)]
                strings = [c for c in (ACCOUNT, LINE_TYPE, OPERATION, CURRENCY, RESOURCE) if c in names]
                strings += [leaf for leaf in leaves if leaf.startswith(TAGS + ".")]
                file = pq.ParquetFile(handle, read_dictionary=strings)
                time_index = next(i for i in range(file.metadata.num_columns) if file.schema.column(i).path == TIME)
                for group in range(file.metadata.num_row_groups):
                    stats = file.metadata.row_group(group).column(time_index).statistics
                    if stats is not None and stats.has_min_max and isinstance(stats.min, dt.datetime):
                        lo, hi = stats.min.replace(tzinfo=None), stats.max.replace(tzinfo=None)
                        if hi < low or lo >= high:
                            continue
                    yield f"{where} (row group {group})", file.read_row_group(group, columns=wanted), columns
            if progress:
                progress(number, len(files), where)


def _text(array) -> pa.Array:
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array.cast(pa.string())


def _arn_parts(arns: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(cluster, namespace) of pod ARNs `arn:aws:eks:REGION:ACCOUNT:pod/CLUSTER/NAMESPACE/...`;
    null where the resource id is not a pod ARN. On a dictionary, parses each distinct ARN once."""
    if pa.types.is_dictionary(arns.type):
        cluster, namespace = _arn_parts(arns.dictionary.cast(pa.string()))
        return cluster.take(arns.indices), namespace.take(arns.indices)
    parts = pc.extract_regex(arns.cast(pa.string()), r":pod/(?P<cluster>[^/]+)/(?P<namespace>[^/]+)/")
    return pc.struct_field(parts, "cluster"), pc.struct_field(parts, "namespace")


def reduce_cur(batch: pa.Table, columns: tuple[str, str, str], first_day: int, end_day: int):
    """One batch of CUR rows -> (groups, totals) as hub_ops.costs.usage sums them, or None."""
    amount_name, split_name, unused_name = columns
    days = usage_days(batch.column(TIME).combine_chunks())
    inside = (days >= first_day) & (days < end_day)
    if not inside.any():
        return None
    if not inside.all():
        batch, days = batch.filter(pa.array(inside)), days[inside]
    n = batch.num_rows
    amount = to_nanos(batch.column(amount_name))
    credit = (
        pc.is_in(_text(batch.column(LINE_TYPE)), pa.array(CREDIT_TYPES)).fill_null(False).to_numpy(zero_copy_only=False)
    )
    pod = pc.equal(_text(batch.column(OPERATION)), POD_OPERATION).fill_null(False).to_numpy(zero_copy_only=False)
    tags = batch.column(TAGS).combine_chunks()
    *clusters, namespace, hub = label_values(tags, *CLUSTER_TAGS, NAMESPACE_TAG, HUB_TAG)
    cluster = pc.coalesce(*clusters)
    untagged = pod & (
        pc.is_null(cluster).to_numpy(zero_copy_only=False) | pc.is_null(namespace).to_numpy(zero_copy_only=False)
    )
    if untagged.any() and RESOURCE in batch.column_names:
        arn_cluster, arn_namespace = _arn_parts(batch.column(RESOURCE).combine_chunks())
        cluster = pc.coalesce(cluster, arn_cluster)
        namespace = pc.coalesce(namespace, arn_namespace)
    zeros = np.zeros(n, dtype=np.int64)
    split = to_nanos(batch.column(split_name)) if split_name in batch.column_names else zeros
    unused = to_nanos(batch.column(unused_name)) if unused_name in batch.column_names else zeros
    split, unused = np.where(pod, split, 0), np.where(pod, unused, 0)
    hub_namespace = pc.binary_join_element_wise(pa.scalar(HUB_TAG_PREFIX), hub, "")
    row_namespace = pc.if_else(pa.array(pod), pc.fill_null(namespace, ""), pc.fill_null(hub_namespace, ""))
    common = {
        "day": pa.array(days.astype(np.int32)),
        "project": _keys(batch.column(ACCOUNT)),  # dictionaries group fast; decoded once grouped
        "cluster": cluster,
        "currency": _keys(batch.column(CURRENCY)),
    }
    own = np.where(credit, 0, amount)
    credits = np.where(credit, amount, 0)
    rows = np.ones(n, dtype=np.int64)
    # one group_by over the rows; the pods' idle and node-offset lines are then made from the
    # (few) groups: per group, unused -> `idle`, -(split + unused) -> the cluster's node rows
    extra = {"unused": unused, "pod_total": split + unused, "pods": pod.astype(np.int64)}
    main = pa.table(
        common | {"namespace": row_namespace, "cost_nanos": own + split, "credits_nanos": credits, "rows": rows} | extra
    )
    summed = main.group_by(GROUP_KEYS, use_threads=False).aggregate([(c, "sum") for c in (*SUMS, *extra)])
    summed = summed.rename_columns([c.removesuffix("_sum") for c in summed.column_names])
    parts = [summed.select(GROUP_KEYS + SUMS)]
    with_pods = summed.filter(pc.greater(summed["pods"], 0))
    if with_pods.num_rows:
        m = with_pods.num_rows
        nothing = np.zeros(m, dtype=np.int64)
        for ns, cost in ((UNUSED_NAMESPACE, with_pods["unused"]), ("", pc.negate(with_pods["pod_total"]))):
            derived = {k: with_pods[k] for k in ("day", "project", "cluster", "currency")}
            derived |= {"namespace": pa.array([ns] * m, pa.string()), "cost_nanos": cost}
            parts.append(pa.table(derived | {"credits_nanos": nothing, "rows": nothing}).select(GROUP_KEYS + SUMS))
    table = pa.concat_tables(parts)
    totals = pa.table(
        {
            "day": common["day"],
            "currency": common["currency"],
            "cost_nanos": own,
            "credits_nanos": credits,
            "rows": rows,
        }
    )
    return _decoded(sum_by(table, GROUP_KEYS)), _decoded(sum_by(totals, TOTAL_KEYS))


def _keys(column) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return column if pa.types.is_dictionary(column.type) else column.cast(pa.string())


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary key columns as plain strings, so batches concatenate with one schema."""
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table
