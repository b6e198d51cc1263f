"""FOCUS 1.0-1.2 (FinOps Open Cost and Usage Specification) files from any provider, Parquet or CSV.

Columns read (FOCUS spec, https://focus.finops.org/focus-specification/): ChargePeriodStart (the
day), BilledCost (the amount: what is invoiced, so the lines add up to the file's BilledCost
total), BillingCurrency, ChargeCategory (Credit -> the report's `credits`, everything else,
Tax included, -> `cost`), SubAccountId (the report's `project`: GCP project, AWS account),
ProviderName (the report's `provider`: Google* -> gcp, Amazon*/AWS -> aws, Microsoft*/Azure ->
azure) and Tags (a map in Parquet, a JSON object in CSV). EffectiveCost is not summed: it
spreads commitments over usage and would not add up to the invoice.

Attribution through Tags, the keys each provider writes: cluster `goog-k8s-cluster-name`,
`aws:eks:cluster-name`, `user:alpha.eksctl.io/cluster-name`, `user:2i2c.org/cluster-name`;
namespace `k8s-namespace`, `aws:eks:namespace`; hub `user:2i2c:hub-name` / `2i2c:hub-name`
(namespace `hub-tag:<hub>`, as for CUR). Then the fleet's rules, by provider, as for the native
exports. A file never changes: reading is side-effect free and can be rerun.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from hub_ops.clients.storage import Storage
from hub_ops.costs.crosscheck import ExportNet, focus_net
from hub_ops.costs.cur import HUB_TAG_PREFIX
from hub_ops.costs.errors import BillingExportError
from hub_ops.costs.usage import (
    GROUP_KEYS,
    SUMS,
    TOTAL_KEYS,
    Usage,
    UsageAccumulator,
    combine,
    day_number,
    label_values,
    sum_by,
    to_nanos,
    usage_days,
)

COLUMNS = (
    "ChargePeriodStart",
    "BilledCost",
    "BillingCurrency",
    "ChargeCategory",
    "SubAccountId",
    "ProviderName",
    "Tags",
)
CLUSTER_TAGS = (
    "goog-k8s-cluster-name",
    "aws:eks:cluster-name",
    "user:alpha.eksctl.io/cluster-name",
    "user:2i2c.org/cluster-name",
)
NAMESPACE_TAGS = ("k8s-namespace", "aws:eks:namespace")
HUB_TAGS = ("user:2i2c:hub-name", "2i2c:hub-name")
PROVIDERS = (("google", "gcp"), ("amazon", "aws"), ("aws", "aws"), ("microsoft", "azure"), ("azure", "azure"))


def provider_of(name: str | None) -> str:
    low = (name or "").lower()
    return next((kind for word, kind in PROVIDERS if word in low), low or "unknown")


def data_files(fs, path: str) -> list[str]:
    """`path` itself, or every .parquet / .csv(.gz) file under the folder, sorted."""
    found = sorted(fs.find(path)) if fs.isdir(path) else [path]
    return [p for p in found if p.lower().endswith((".parquet", ".csv", ".csv.gz"))]


@dataclass(frozen=True)
class FocusExport:
    """FOCUS files: one file, or every .parquet / .csv(.gz) file under a folder URL."""

    url: str
    storage: Storage = Storage()

    @property
    def description(self) -> str:
        return self.url

    def files(self) -> list[str]:
        fs, path = self.storage.filesystem(self.url)
        if not fs.exists(path):
            raise BillingExportError(f"{self.url}: no such file or folder (the FOCUS files)")
        files = data_files(fs, path)
        if not files:
            raise BillingExportError(f"{self.url}: no FOCUS files there (.parquet, .csv or .csv.gz)")
        return files

    def aggregate(self, start: dt.date, end: dt.date, progress=None) -> Usage:
        """The usage of [start, end) (UTC days of ChargePeriodStart), one provider per ProviderName."""
        accumulators: dict[str, UsageAccumulator] = {}
        low, high = day_number(start), day_number(end)
        for where, batch in self._batches():
            try:
                parts = reduce_focus(batch, low, high)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
                raise BillingExportError(f"{where}: cannot read the FOCUS rows: {e}") from None
            for provider, groups, totals in parts:
                accumulator = accumulators.setdefault(
                    provider, UsageAccumulator(self.url, start, end, provider=provider)
                )
                accumulator.add_groups(groups, totals, where)
                accumulator.rows_read += int(pc.sum(totals["rows"]).as_py() or 0)
        if not accumulators:
            return UsageAccumulator(self.url, start, end).result()
        usage = combine([a.result() for a in accumulators.values()])
        return Usage(usage.groups, usage.totals, self.url, start, end, usage.rows_read)

    def independent_net(self, start: dt.date, end: dt.date) -> ExportNet:
        return focus_net(self.url, self.storage, start, end)

    def _batches(self) -> Iterator[tuple[str, pa.Table]]:
        fs, _ = self.storage.filesystem(self.url)
        for path in self.files():
            where = fs.unstrip_protocol(path)
            with fs.open(path, "rb", compression="infer") as handle:
                if path.lower().endswith(".parquet"):
                    file = pq.ParquetFile(handle)
                    _require(file.schema_arrow.names, where)
                    for group in range(file.metadata.num_row_groups):
                        yield where, file.read_row_group(group, columns=list(COLUMNS))
                else:
                    try:
                        reader = pv.open_csv(
                            handle,
                            convert_options=pv.ConvertOptions(
                                include_columns=list(COLUMNS),
                                column_types={c: pa.string() for c in COLUMNS if c != "BilledCost"},
                                strings_can_be_null=True,
                            ),
                        )
                    except (pa.ArrowInvalid, KeyError) as e:
                        raise BillingExportError(
                            f"{where}: not a FOCUS CSV with columns {', '.join(COLUMNS)}: {e}"
                        ) from None
                    for batch in reader:
                        yield where, pa.Table.from_batches([batch])


def _require(names: list[str], where: str) -> None:
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise BillingExportError(f"{where}: column(s) {', '.join(missing)} missing; is this a FOCUS 1.0-1.2 file?")


def _text(column) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column.cast(pa.string())


def tag_values(tags: pa.Array, *keys: str) -> list[pa.Array]:
    """Per key, its value on every row: Tags as a map (Parquet) or JSON object text (CSV); each
    distinct JSON text is parsed once."""
    if pa.types.is_map(tags.type):
        return label_values(tags, *keys)
    encoded = pc.dictionary_encode(_text(tags))
    parsed = [json.loads(t) if t else {} for t in encoded.dictionary.to_pylist()]
    return [pa.array([p.get(k) for p in parsed], pa.string()).take(encoded.indices) for k in keys]


def reduce_focus(batch: pa.Table, first_day: int, end_day: int) -> list[tuple[str, pa.Table, pa.Table]]:
    """One batch -> (provider, groups, totals) per provider in it."""
    start = batch["ChargePeriodStart"].combine_chunks()
    days = usage_days(start if pa.types.is_timestamp(start.type) else _text(start))
    inside = (days >= first_day) & (days < end_day)
    if not inside.any():
        return []
    batch, days = batch.filter(pa.array(inside)), days[inside]
    amount = to_nanos(batch["BilledCost"].combine_chunks())
    credit = pc.equal(_text(batch["ChargeCategory"]), "Credit").fill_null(False).to_numpy(zero_copy_only=False)
    found = tag_values(batch["Tags"].combine_chunks(), *CLUSTER_TAGS, *NAMESPACE_TAGS, *HUB_TAGS)
    cluster = pc.coalesce(*found[: len(CLUSTER_TAGS)])
    namespace = pc.coalesce(*found[len(CLUSTER_TAGS) : len(CLUSTER_TAGS) + len(NAMESPACE_TAGS)])
    hub = pc.coalesce(*found[len(CLUSTER_TAGS) + len(NAMESPACE_TAGS) :])
    hub_namespace = pc.binary_join_element_wise(pa.scalar(HUB_TAG_PREFIX), hub, "")
    rows = np.ones(len(days), dtype=np.int64)
    table = pa.table(
        {
            "day": pa.array(days.astype(np.int32)),
            "project": _text(batch["SubAccountId"]),
            "cluster": cluster,
            "namespace": pc.coalesce(namespace, hub_namespace),
            "currency": _text(batch["BillingCurrency"]),
            "cost_nanos": np.where(credit, 0, amount),
            "credits_nanos": np.where(credit, amount, 0),
            "rows": rows,
        }
    )
    names = pc.dictionary_encode(_text(batch["ProviderName"]))
    kinds = np.array([provider_of(n) for n in names.dictionary.to_pylist()] or ["unknown"])
    providers = (
        kinds[names.indices.fill_null(0).to_numpy(zero_copy_only=False)]
        if len(names.dictionary)
        else (np.full(len(days), "unknown"))
    )
    out = []
    for provider in sorted(set(providers)):
        part = table.filter(pa.array(providers == provider))
        out.append((provider, sum_by(part.select(GROUP_KEYS + SUMS), GROUP_KEYS), sum_by(part, TOTAL_KEYS)))
    return out
