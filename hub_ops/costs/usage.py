"""Billing rows -> usage groups: net cost per day, project, GKE cluster, namespace and currency.

The one reduction every source goes through. Amounts are summed as integer nanos (1e-9 of the
currency unit) so that sums are exact and associative: the groups of a period add up to the
period's total to the last nano, whatever the grouping order, and rounding to cents happens
once, at the end (hub_ops.costs.report). A file's rows are reduced batch by batch (a Parquet
row group at a time), so memory stays flat whatever the size of the export.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hub_ops.costs.errors import BillingExportError, MixedCurrencyError
from hub_ops.costs.schema import CLUSTER_LABEL, NAMESPACE_LABEL

NANOS = 10**9
EPOCH = dt.date(1970, 1, 1)
US_PER_DAY = 86_400_000_000
GROUP_KEYS = ["day", "project", "cluster", "namespace", "currency"]
TOTAL_KEYS = ["day", "currency"]
SUMS = ["cost_nanos", "credits_nanos", "rows"]


def day_number(day: dt.date) -> int:
    return (day - EPOCH).days


def to_nanos(amounts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Float amounts -> int64 nanos, rounding half away from zero (as BigQuery's ROUND does)."""
    scaled = pc.round(
        pc.multiply(amounts.cast(pa.float64()).fill_null(0.0), 1e9), 0, round_mode="half_towards_infinity"
    )
    return scaled.cast(pa.int64()).to_numpy(zero_copy_only=False)


def _mask_equal(keys: pa.Array, wanted: str) -> np.ndarray:
    """keys == wanted as a numpy bool array; on dictionary arrays, compares indices only."""
    if pa.types.is_dictionary(keys.type):
        index = pc.index(keys.dictionary, wanted).as_py()
        if index < 0:
            return np.zeros(len(keys), dtype=bool)
        return keys.indices.fill_null(-1).to_numpy(zero_copy_only=False) == index
    return pc.equal(keys, wanted).fill_null(False).to_numpy(zero_copy_only=False)


def label_values(labels: pa.Array, *keys: str) -> list[pa.Array]:
    """For each key, the value of that label on every row (null where the row has no such label);
    `labels` is a list<struct<key, value>> or a map<string, string>.

    Works on the flattened key/value children of the list<struct<key, value>> column, so it
    costs a few vector operations per batch, never a Python loop over rows.
    """
    if pa.types.is_map(labels.type):  # CUR's resource_tags: the same entries, seen as a list of structs
        labels = pa.ListArray.from_arrays(labels.offsets, labels.values, mask=labels.is_null())
    flat = pc.list_flatten(labels)
    parents = pc.list_parent_indices(labels).to_numpy(zero_copy_only=False)
    label_keys = pc.struct_field(flat, "key")
    label_values_ = pc.struct_field(flat, "value")
    out = []
    for key in keys:
        selected = np.flatnonzero(_mask_equal(label_keys, key))
        position = np.full(len(labels), -1, dtype=np.int64)
        position[parents[selected]] = selected
        values = label_values_.take(pa.array(position, mask=position < 0))
        out.append(_plain_strings(values))
    return out


def credit_sums(credits: pa.Array) -> np.ndarray:
    """Sum of credits.amount per row, in nanos (0 for a row without credits)."""
    n = len(credits)
    lengths = pc.list_value_length(credits).fill_null(0).to_numpy(zero_copy_only=False)
    sums = np.zeros(n, dtype=np.int64)
    if not lengths.any():
        return sums
    amounts = to_nanos(pc.struct_field(pc.list_flatten(credits), "amount"))
    starts = np.cumsum(lengths) - lengths
    nonempty = lengths > 0
    sums[nonempty] = np.add.reduceat(amounts, starts[nonempty])
    return sums


def _plain_strings(array: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array.cast(pa.string())


def usage_days(times: pa.Array) -> np.ndarray:
    """Day numbers (days since 1970-01-01, UTC) of usage_start_time; text as BigQuery writes it
    in JSON and CSV ("2026-10-01 00:00:00 UTC") or ISO 8601 is parsed."""
    if pa.types.is_string(times.type) or pa.types.is_large_string(times.type) or pa.types.is_dictionary(times.type):
        text = _plain_strings(times)
        for suffix in (" UTC", "Z", "+00:00"):
            text = pc.replace_substring(text, suffix, "")
        times = pc.cast(pc.replace_substring(text, "T", " "), pa.timestamp("us"))
    elif not pa.types.is_timestamp(times.type):
        raise TypeError(f"usage_start_time is {times.type}, expected a timestamp")
    micros = pc.cast(times, pa.timestamp("us", tz=getattr(times.type, "tz", None))).cast(pa.int64())
    return np.floor_divide(micros.to_numpy(zero_copy_only=False), US_PER_DAY)


@dataclass
class UsageAccumulator:
    """Reduces raw export batches of one source and period into a Usage, batch by batch."""

    source: str
    start: dt.date
    end: dt.date  # exclusive
    provider: str = "gcp"  # the cloud the rows bill: the report's `provider` column
    _groups: list[pa.Table] = field(default_factory=list)
    _totals: list[pa.Table] = field(default_factory=list)
    _currencies: set[str] = field(default_factory=set)
    rows_read: int = 0

    def add_raw(self, batch: pa.RecordBatch | pa.Table, where: str = "") -> None:
        """One batch with the columns of schema.NEEDED_COLUMNS (project may be a struct with
        `id` or a plain `project_id` column). Rows outside the period are skipped."""
        where = where or self.source
        try:
            reduced = _reduce(batch, day_number(self.start), day_number(self.end))
        except KeyError as e:
            raise BillingExportError(
                f"{where}: column {e} missing; a detailed billing export has "
                "usage_start_time, project.id, labels, cost, currency, credits"
            ) from None
        except (pa.ArrowInvalid, TypeError, ValueError) as e:
            raise BillingExportError(f"{where}: cannot read the export's rows: {e}") from None
        self.rows_read += len(batch)
        if reduced is not None:
            self.add_groups(*reduced, where=where)

    def add_groups(self, groups: pa.Table, totals: pa.Table, where: str = "") -> None:
        """Pre-reduced groups and totals (the BigQuery reader reduces on the server)."""
        self._currencies.update(c for c in totals.column("currency").to_pylist() if c is not None)
        if len(self._currencies) > 1:
            raise MixedCurrencyError(where or self.source, list(self._currencies), self.start, self.end)
        self._groups.append(groups)
        self._totals.append(totals)

    def result(self) -> Usage:
        groups = _resum(self._groups, GROUP_KEYS)
        totals = _resum(self._totals, TOTAL_KEYS)
        groups.insert(len(GROUP_KEYS), "provider", self.provider)
        return Usage(
            groups=groups, totals=totals, source=self.source, start=self.start, end=self.end, rows_read=self.rows_read
        )


def _reduce(batch: pa.RecordBatch | pa.Table, first_day: int, end_day: int) -> tuple[pa.Table, pa.Table] | None:
    if isinstance(batch, pa.Table):
        batch = batch.combine_chunks().to_batches()[0] if batch.num_rows else None
        if batch is None:
            return None
    names = batch.schema.names
    days = usage_days(_column(batch, "usage_start_time"))
    inside = (days >= first_day) & (days < end_day)
    if not inside.all():
        if not inside.any():
            return None
        batch = batch.filter(pa.array(inside))
        days = days[inside]
    if "project_id" in names:
        project = batch.column(names.index("project_id"))
    elif "project" in names:
        project = pc.struct_field(batch.column(names.index("project")), "id")
    else:
        raise KeyError("project.id")
    cluster, namespace = label_values(_column(batch, "labels"), CLUSTER_LABEL, NAMESPACE_LABEL)
    table = pa.table(
        {
            "day": pa.array(days.astype(np.int32)),
            "project": _plain_strings(project),
            "cluster": cluster,
            "namespace": namespace,
            "currency": _plain_strings(_column(batch, "currency")),
            "cost_nanos": to_nanos(_column(batch, "cost")),
            "credits_nanos": credit_sums(_column(batch, "credits")),
        }
    )
    table = table.append_column("rows", pa.array(np.ones(len(table), dtype=np.int64)))
    return sum_by(table, GROUP_KEYS), sum_by(table, TOTAL_KEYS)


def sum_by(table: pa.Table, keys: list[str]) -> pa.Table:
    """Sums of SUMS by keys (null keys form their own group), columns keys + SUMS."""
    summed = table.group_by(keys, use_threads=False).aggregate([(c, "sum") for c in SUMS])
    return summed.rename_columns([n.removesuffix("_sum") for n in summed.column_names]).select(keys + SUMS)


def _column(batch: pa.RecordBatch, name: str) -> pa.Array:
    if name not in batch.schema.names:
        raise KeyError(name)
    return batch.column(batch.schema.names.index(name))


def _resum(parts: list[pa.Table], keys: list[str]) -> pd.DataFrame:
    columns = keys + SUMS
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in SUMS else "object") for c in columns})
    merged = pa.concat_tables([p.select(columns).cast(parts[0].select(columns).schema) for p in parts])
    frame = sum_by(merged, keys).to_pandas()
    frame["day"] = [EPOCH + dt.timedelta(days=int(d)) for d in frame["day"]]
    for key in keys[1:]:
        frame[key] = frame[key].astype(object).where(frame[key].notna(), "")
    for c in SUMS:
        frame[c] = frame[c].astype("int64")
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


@dataclass
class Usage:
    """What a period of the export cost, reduced.

    groups: day (datetime.date), project, cluster (the goog-k8s-cluster-name label, "" when
    absent), namespace (k8s-namespace, "" when absent), currency, provider, cost_nanos,
    credits_nanos, rows. (AWS: project is the account, cluster the EKS cluster; hub_ops.costs.cur.)
    totals: the same sums per day and currency, reduced without the label columns: the
    export's own total, which the report's lines must add up to.
    """

    groups: pd.DataFrame
    totals: pd.DataFrame
    source: str
    start: dt.date
    end: dt.date
    rows_read: int = 0

    @property
    def currency(self) -> str:
        currencies = sorted(set(self.totals["currency"]) - {""})
        if len(currencies) > 1:
            raise MixedCurrencyError(self.source, currencies, self.start, self.end)
        return currencies[0] if currencies else ""

    @property
    def net_nanos(self) -> int:
        return int(self.totals["cost_nanos"].sum()) + int(self.totals["credits_nanos"].sum())

    @property
    def cost_nanos(self) -> int:
        return int(self.totals["cost_nanos"].sum())


def combine(usages: list[Usage]) -> Usage:
    """One Usage of the same period from several sources (fleet.yaml costs.billing as a list).
    Refuses mixed currencies, as one source does."""
    if len(usages) == 1:
        return usages[0]
    first = usages[0]
    source = " + ".join(u.source for u in usages)
    combined = Usage(
        groups=pd.concat([u.groups for u in usages], ignore_index=True),
        totals=pd.concat([u.totals for u in usages], ignore_index=True)
        .groupby(TOTAL_KEYS, as_index=False, sort=True)[SUMS]
        .sum(),
        source=source,
        start=first.start,
        end=first.end,
        rows_read=sum(u.rows_read for u in usages),
    )
    combined.currency  # noqa: B018 - raises MixedCurrencyError across the sources
    return combined
