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
import math
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
REDUCERS = 2  # row groups reduced in parallel; each adds one row group's memory
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
        # REDUCERS row groups reduced at once (numpy and Arrow release the GIL) while the next
        # is read; added in file order, so errors and the accumulator see the sequential order
        pending: deque = deque()
        with ThreadPoolExecutor(REDUCERS, thread_name_prefix="cur-reduce") as pool:
            for where, batch, columns in self._batches(start, end, progress):
                pending.append((where, batch.num_rows, pool.submit(reduce_cur, batch, columns, low, high)))
                if len(pending) > REDUCERS:
                    _add(accumulator, *pending.popleft())
            while pending:
                _add(accumulator, *pending.popleft())
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
                # a local file is read by Arrow's own file reader, which needs no GIL
                source = path if type(fs).__name__ == "LocalFileSystem" else handle
                file = pq.ParquetFile(source)
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
                file = pq.ParquetFile(source, read_dictionary=strings)
                time_index = next(i for i in range(file.metadata.num_columns) if file.schema.column(i).path == TIME)
                groups = []
                for group in range(file.metadata.num_row_groups):
                    stats = file.metadata.row_group(group).column(time_index).statistics
                    if stats is not None and stats.has_min_max and isinstance(stats.min, dt.datetime):
                        lo, hi = stats.min.replace(tzinfo=None), stats.max.replace(tzinfo=None)
                        if hi < low or lo >= high:
                            continue
                    groups.append(group)
                for group, table in _read_ahead(file, groups, wanted):
                    yield f"{where} (row group {group})", table, columns
            if progress:
                progress(number, len(files), where)


def _add(accumulator: UsageAccumulator, where: str, rows: int, reduced: Future) -> None:
    try:
        groups = reduced.result()
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
        raise BillingExportError(f"{where}: cannot read the CUR rows: {e}") from None
    accumulator.rows_read += rows
    if groups is not None:
        accumulator.add_groups(*groups, where=where)


def _read_ahead(file: pq.ParquetFile, groups: list[int], columns: list[str]) -> Iterator[tuple[int, pa.Table]]:
    """(group, its rows) for each row group, the next one read in a thread while the caller
    reduces this one: Parquet decoding and the numpy/Arrow reduction release the GIL, so the
    two overlap on a second core. One row group ahead, so memory grows by one row group."""
    with ThreadPoolExecutor(1, thread_name_prefix="cur-read") as reader:
        pending = None
        for group in groups:
            following = (group, reader.submit(file.read_row_group, group, columns=columns))
            if pending:
                yield pending[0], pending[1].result()
            pending = following
        if pending:
            yield pending[0], pending[1].result()


def _codes(column) -> tuple[np.ndarray, pa.Array]:
    """A string column as (int32 codes, -1 for null; its distinct values as strings)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(array.type):
        array = pc.dictionary_encode(array.cast(pa.string()))
    indices = array.indices.fill_null(-1) if array.indices.null_count else array.indices
    codes = indices.cast(pa.int32()).to_numpy(zero_copy_only=False)
    return codes, array.dictionary.cast(pa.string())


def _member(column, wanted) -> np.ndarray:
    """column IN wanted, per row (False for null), tested once per distinct value."""
    codes, values = _codes(column)
    hit = pc.is_in(values, pa.array(wanted, pa.string())).fill_null(False).to_numpy(zero_copy_only=False)
    return np.append(hit, False)[codes]  # code -1 (null) reads the appended False


def _tag_codes(tags: pa.Array, keys: tuple[str, ...]) -> tuple[np.ndarray, pa.Array]:
    """(codes, values): codes[k, row] is the code in `values` of tag keys[k] on that row, -1
    where the row has no such tag (or a null value); the last entry wins if a key repeats.
    numpy over the map's flat key/value children: no per-key `take`, no string decoding."""
    if isinstance(tags, pa.ChunkedArray):
        tags = tags.combine_chunks()
    n = len(tags)
    offsets = tags.offsets.to_numpy(zero_copy_only=False)
    first, last = int(offsets[0]), int(offsets[-1])
    entries = tags.values.slice(first, last - first)  # the map's struct<key, value> entries
    key_codes, key_names = _codes(entries.field(0))
    value_codes, values = _codes(entries.field(1))
    # each entry's place in the flat (key, row) output; entries of other keys (and of null
    # maps) go to one spare slot past the end. In place and int32 where it fits: these are
    # the largest arrays of a batch, and fresh pages cost more than the arithmetic
    spare = len(keys) * n
    index = np.int32 if spare + n < 2**31 else np.int64
    base_of = np.full(len(key_names) + 1, spare, dtype=index)
    for slot, key in enumerate(keys):
        base_of[:-1][pc.equal(key_names, key).fill_null(False).to_numpy(zero_copy_only=False)] = slot * n
    place = np.repeat(np.arange(n, dtype=index), np.diff(offsets))  # the entry's row
    invalid = ~tags.is_valid().to_numpy(zero_copy_only=False)[place] if tags.null_count else None
    place += base_of[key_codes]
    np.minimum(place, spare, out=place)
    if invalid is not None:
        place[invalid] = spare
    codes = np.full(spare + 1, -1, dtype=np.int32)
    codes[place] = value_codes  # repeated places keep the last value
    return codes[:spare].reshape(len(keys), n), values


def _first_found(codes: np.ndarray, *more: np.ndarray) -> np.ndarray:
    """Elementwise coalesce of code arrays (-1 = missing), into the first one."""
    for other in more:
        np.copyto(codes, other, where=codes < 0)
    return codes


def _arn_parts(arns: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(cluster, namespace) of pod ARNs `arn:aws:eks:REGION:ACCOUNT:pod/CLUSTER/NAMESPACE/...`;
    null where the resource id is not a pod ARN."""
    parts = pc.extract_regex(arns, r":pod/(?P<cluster>[^/]+)/(?P<namespace>[^/]+)/")
    return pc.struct_field(parts, "cluster"), pc.struct_field(parts, "namespace")


def _valid_codes(strings: pa.Array, base: int) -> np.ndarray:
    """base + i for each non-null entry i of strings, -1 for null; one slot past the end = -1."""
    valid = strings.is_valid().to_numpy(zero_copy_only=False)
    return np.append(np.where(valid, base + np.arange(len(strings)), -1), -1)


def reduce_cur(batch: pa.Table, columns: tuple[str, str, str], first_day: int, end_day: int):
    """One batch of CUR rows -> (groups, totals) as hub_ops.costs.usage sums them, or None.

    Every string key (account, currency, cluster, namespace) stays an integer code into a small
    table of distinct values until the rows are grouped; only the groups are decoded."""
    amount_name, split_name, unused_name = columns
    days = usage_days(batch.column(TIME).combine_chunks())
    inside = (days >= first_day) & (days < end_day)
    if not inside.any():
        return None
    if not inside.all():
        batch, days = batch.filter(pa.array(inside)), days[inside]
    amount = to_nanos(batch.column(amount_name))
    credit = _member(batch.column(LINE_TYPE), CREDIT_TYPES)
    pod = _member(batch.column(OPERATION), [POD_OPERATION])
    tags, values = _tag_codes(batch.column(TAGS), (*CLUSTER_TAGS, NAMESPACE_TAG, HUB_TAG))
    # rows of `tags`, updated in place (fresh pages cost more than the arithmetic)
    cluster, namespace, hub = _first_found(*tags[: len(CLUSTER_TAGS)]), tags[-2], tags[-1]
    # code spaces: cluster = tag values, then pod-ARN clusters; namespace = "", tag values,
    # pod-ARN namespaces, then "hub-tag:" + tag values
    cluster_names, namespace_names = [values], [pa.array([""]), values]
    np.add(namespace, 1, out=namespace, where=namespace >= 0)
    if RESOURCE in batch.column_names:  # the pod ARN, parsed once per distinct resource id
        resource, arns = _codes(batch.column(RESOURCE))
        arn_cluster, arn_namespace = _arn_parts(arns)
        _first_found(cluster, _valid_codes(arn_cluster, len(values))[resource])
        _first_found(namespace, _valid_codes(arn_namespace, 1 + len(values))[resource])
        cluster_names.append(arn_cluster)
        namespace_names.append(arn_namespace)
    np.add(hub, sum(len(a) for a in namespace_names), out=hub, where=hub >= 0)
    namespace_names.append(pc.binary_join_element_wise(HUB_TAG_PREFIX, values, ""))
    np.copyto(namespace, hub, where=~pod)  # pods by namespace, other rows by hub tag
    np.maximum(namespace, 0, out=namespace)  # neither: ""
    project, accounts = _codes(batch.column(ACCOUNT))
    currency, currencies = _codes(batch.column(CURRENCY))
    zeros = np.zeros(len(days), dtype=np.int64)
    split = np.where(pod, to_nanos(batch.column(split_name)), 0) if split_name in batch.column_names else zeros
    unused = np.where(pod, to_nanos(batch.column(unused_name)), 0) if unused_name in batch.column_names else zeros
    own = np.where(credit, 0, amount)
    names = {
        "project": accounts,
        "cluster": pa.concat_arrays(cluster_names),
        "namespace": pa.concat_arrays(namespace_names),
        "currency": currencies,
    }
    keys = {"day": days - first_day, "project": project, "cluster": cluster, "namespace": namespace}
    keys["currency"] = currency
    # one group_by over the rows; the pods' idle and node-offset lines and the day totals are
    # then made from the (few) groups: per group, unused -> `idle`, -(split + unused) -> the
    # cluster's node rows; the rows' own cost (without split) -> the totals
    sums = {"cost_nanos": own + split, "credits_nanos": amount - own}
    sums |= {"split": split, "unused": unused, "pods": pod.astype(np.int8)}
    codes, summed = _group(keys, [end_day - first_day] + [len(names[k]) for k in GROUP_KEYS[1:]], sums)
    decoded = {"day": pa.array((codes["day"] + first_day).astype(np.int32))}
    decoded |= {k: _decode(codes[k], v) for k, v in names.items()}
    parts = [pa.table(decoded | {c: summed[c] for c in SUMS})]
    pods = pc.greater(summed["pods"], 0)
    if pc.any(pods).as_py():
        pod_total = pc.add(summed["split"], summed["unused"])
        with_pods = pa.table(decoded | {"unused": summed["unused"], "pod_total": pod_total}).filter(pods)
        m = with_pods.num_rows
        nothing = pa.array(np.zeros(m, dtype=np.int64))
        for ns, cost in ((UNUSED_NAMESPACE, with_pods["unused"]), ("", pc.negate(with_pods["pod_total"]))):
            derived = {k: with_pods[k] for k in GROUP_KEYS} | {"namespace": pa.array([ns] * m, pa.string())}
            parts.append(pa.table(derived | {"cost_nanos": cost, "credits_nanos": nothing, "rows": nothing}))
    totals = pa.table(
        {k: decoded[k] for k in TOTAL_KEYS} | {"cost_nanos": pc.subtract(summed["cost_nanos"], summed["split"])}
    )
    totals = totals.append_column("credits_nanos", summed["credits_nanos"]).append_column("rows", summed["rows"])
    return sum_by(pa.concat_tables(parts).select(GROUP_KEYS + SUMS), GROUP_KEYS), sum_by(totals, TOTAL_KEYS)


def _group(keys: dict[str, np.ndarray], sizes: list[int], sums: dict[str, np.ndarray]):
    """Sums of `sums` and the row count (`rows`) per distinct combination of integer key codes
    (-1 = null, else < size) -> (the groups' key codes, a table of their sums). The codes are
    packed into one int64 key where they fit: hashing one column is twice as fast as five."""
    dims = [size + 1 for size in sizes]  # code + 1: room for -1
    aggregations = [(c, "sum") for c in sums]
    if math.prod(dims) < 2**62:
        packed = np.zeros(len(next(iter(keys.values()))), dtype=np.int64)
        for codes, dim in zip(keys.values(), dims, strict=True):
            packed *= dim
            packed += codes
            packed += 1
        summed = pa.table({"key": packed} | sums).group_by("key", use_threads=False)
        summed = summed.aggregate([*aggregations, ("key", "count")])
        unpacked = np.unravel_index(summed["key"].to_numpy(), dims)
        codes = {k: c - 1 for k, c in zip(keys, unpacked, strict=True)}
    else:
        first = next(iter(keys))
        summed = pa.table(keys | sums).group_by(list(keys), use_threads=False)
        summed = summed.aggregate([*aggregations, (first, "count")])
        codes = {k: summed[k].to_numpy() for k in keys}
    names = [c.removesuffix("_sum") for c in summed.column_names]
    return codes, summed.rename_columns([("rows" if c.endswith("_count") else c) for c in names])


def _decode(codes: np.ndarray, strings: pa.Array) -> pa.Array:
    """Codes (-1 = null) -> their strings."""
    return strings.take(pa.array(codes, mask=codes < 0))
