"""Azure Cost Management cost details exports: actual or amortized cost, CSV (.csv, .csv.gz) or Parquet.

Sources (Microsoft's documentation, read for this module): the cost details fields
(learn.microsoft.com/azure/cost-management-billing/automate/understand-usage-details-fields), the
EA file schema 2024-08-01 (dataset-schema/cost-usage-details-ea: `Date`, `CostInBillingCurrency`,
`BillingCurrencyCode`, `ResourceGroup`, `ResourceId`, `Tags`, `ChargeType`, `PricingModel`) and
the MCA one 2023-12-01-preview (dataset-schema/cost-usage-details-mca: `date`,
`costInBillingCurrency`, `billingCurrency`, `resourceGroupName`, `ResourceId`, `tags`,
`chargeType`); "Get EA and MCA reservation costs and usage" (actual cost has reservation
purchases, amortized cost spreads them over the usage and adds `UnusedReservation` rows; both
carry the dataset's cost in CostInBillingCurrency, so one reader reads both); exports write each
run as `<export>/<YYYYMMDD-YYYYMMDD>/<run id>/part_*.csv|parquet` beside a manifest.json whose
`exportConfig.type` is ActualCost or AmortizedCost.

Rules (hub_ops; the README states them for people):
- column names are matched without regard to case (EA and MCA spell them differently); the day
  is `Date` (MM/DD/YYYY as exports write it, ISO YYYY-MM-DD, or a Parquet date/timestamp);
- amount = CostInBillingCurrency; ChargeType Refund (and Credit) goes to `credits`, every other
  row (Usage, Purchase, Tax, RoundingAdjustment, UnusedReservation, UnusedSavingsPlan) to `cost`:
  nothing is dropped, so the lines add up to the files' CostInBillingCurrency total;
- project = the resource group, lower case (Azure's names are case-insensitive; exports spell
  them both ways); none (empty, `Others`, `Not applicable`) is "";
- cluster = the AKS cluster a ResourceId `.../managedClusters/<name>` names (the control plane),
  else a cluster tag (CLUSTER_TAGS); the rows of AKS's node resource group
  `MC_<group>_<cluster>_<region>` (VM scale sets, disks, load balancers) are matched to their
  cluster by hub_ops.costs.attribution, which knows the fleet;
- namespace = the tag `kubernetes.io-created-for-pvc-namespace` that AKS's disk CSI driver puts
  on the disks it creates (home volumes), else `hub-tag:<hub>` for a hub tag (HUB_TAGS).
Tag keys are case-insensitive in Azure, and `/` is not allowed in them: `2i2c.org/hub-name`
becomes `2i2c.org-hub-name`, as AKS writes `kubernetes.io/...` as `kubernetes.io-...`.

Reading only, a file at a time in blocks (CSV) or row groups (Parquet): memory is flat
whatever the export's size. Safe to rerun.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.parquet as pq

from hub_ops.clients.storage import Storage
from hub_ops.costs.crosscheck import ExportNet, azure_net
from hub_ops.costs.cur import HUB_TAG_PREFIX
from hub_ops.costs.errors import BillingExportError
from hub_ops.costs.focus import data_files
from hub_ops.costs.usage import EPOCH, GROUP_KEYS, SUMS, TOTAL_KEYS, Usage, UsageAccumulator, sum_by, to_nanos

# logical column -> its names in EA and MCA files (matched case-insensitively)
COLUMNS = {
    "date": ("Date",),
    "cost": ("CostInBillingCurrency",),
    "currency": ("BillingCurrencyCode", "BillingCurrency"),
    "resource_group": ("ResourceGroup", "resourceGroupName"),
    "resource_id": ("ResourceId",),
    "tags": ("Tags",),
    "charge_type": ("ChargeType",),
}
CREDIT_CHARGES = ("refund", "credit")
NO_GROUP = ("", "others", "not applicable")
NAMESPACE_TAGS = ("kubernetes.io-created-for-pvc-namespace",)
HUB_TAGS = ("2i2c.org-hub-name", "2i2c:hub-name")
CLUSTER_TAGS = ("2i2c.org-cluster-name", "2i2c:cluster-name")
DATASETS = ("ActualCost", "AmortizedCost")
# CSV block: cost details files are wide (57 EA / 65 MCA columns) and Arrow's parser holds
# buffers for every column of a block, read or not: reading a 536 MB, 1.4M-row EA export peaked
# at ~650 MB RSS with 16 MiB blocks, ~345 MB with 4 MiB (2026-12-02)
BLOCK_SIZE = 4 << 20
_MANAGED_CLUSTER = re.compile(r"/providers/microsoft\.containerservice/managedclusters/([^/]+)")


@dataclass(frozen=True)
class AzureCostExport:
    """Cost details files: one file, or every .csv(.gz) / .parquet file under a folder URL (one
    export's runs: one dataset, one run per billing period)."""

    url: str
    storage: Storage = Storage()

    @property
    def description(self) -> str:
        return self.url

    def files(self) -> list[str]:
        fs, path = self.storage.filesystem(self.url)
        if not fs.exists(path):
            raise BillingExportError(f"{self.url}: no such file or folder (the Azure cost details export)")
        files = data_files(fs, path)
        if not files:
            raise BillingExportError(f"{self.url}: no cost details files there (.csv, .csv.gz or .parquet)")
        self.dataset()  # refuses mixed datasets and overlapping runs before anything is summed
        return files

    def manifests(self) -> dict[str, dict]:
        """manifest.json of each export run under the URL, by path."""
        fs, path = self.storage.filesystem(self.url)
        if not fs.isdir(path):
            return {}
        found = {}
        for name in sorted(fs.find(path)):
            if name.rsplit("/", 1)[-1].lower() == "manifest.json":
                try:
                    found[name] = json.loads(fs.cat_file(name))
                except ValueError as e:
                    raise BillingExportError(f"{fs.unstrip_protocol(name)}: not JSON: {e}") from None
        return found

    def dataset(self) -> str | None:
        """ActualCost or AmortizedCost, as the runs' manifests say (None without manifests).
        Refuses a folder holding both (their sum would count reservations twice) and a billing
        period with several runs (its rows would be counted once per run)."""
        manifests = self.manifests()
        kinds = {str((m.get("exportConfig") or {}).get("type") or "") for m in manifests.values()}
        if len(kinds) > 1:
            raise BillingExportError(
                f"{self.url}: export runs of different datasets ({', '.join(sorted(kinds))}); point the "
                "source at one export (actual or amortized cost), never both: they add up to twice the cost"
            )
        periods: dict[str, list[str]] = {}
        for name in manifests:
            run_folder = name.rsplit("/", 1)[0]
            periods.setdefault(run_folder.rsplit("/", 1)[0], []).append(run_folder)
        overlapping = {p: runs for p, runs in periods.items() if len(runs) > 1}
        if overlapping:
            period, runs = next(iter(overlapping.items()))
            names = ", ".join(r.rsplit("/", 1)[-1] for r in runs)
            raise BillingExportError(
                f"{period}: {len(runs)} export runs of the same period ({names}); "
                "keep one (turn on the export's 'Overwrite data') or point the source at one run's folder"
            )
        kind = next(iter(kinds), "") or None
        if kind is not None and kind not in DATASETS:
            raise BillingExportError(
                f"{self.url}: a {kind} export; hub_ops reads the cost details datasets {', '.join(DATASETS)} "
                "(a FocusCost export is read with format: focus)"
            )
        return kind

    def aggregate(self, start: dt.date, end: dt.date, progress=None) -> Usage:
        """The usage of [start, end) (the rows' Date)."""
        accumulator = UsageAccumulator(self.url, start, end, provider="azure")
        low, high = (start - EPOCH).days, (end - EPOCH).days
        for where, batch in self._batches(progress):
            try:
                reduced = reduce_azure(batch, low, high)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as e:
                raise BillingExportError(f"{where}: cannot read the cost details rows: {e}") from None
            accumulator.rows_read += batch.num_rows
            if reduced is not None:
                accumulator.add_groups(*reduced, where=where)
        return accumulator.result()

    def independent_net(self, start: dt.date, end: dt.date) -> ExportNet:
        """The reconciliation check's second read (hub_ops.costs.crosscheck.azure_net)."""
        return azure_net(self.url, self.storage, start, end)

    def _batches(self, progress) -> Iterator[tuple[str, pa.Table]]:
        fs, _ = self.storage.filesystem(self.url)
        files = self.files()
        for number, path in enumerate(files, 1):
            where = fs.unstrip_protocol(path)
            if path.lower().endswith(".parquet"):
                with fs.open(path, "rb") as handle:
                    file = pq.ParquetFile(handle)
                    names = resolve_columns(file.schema_arrow.names, where)
                    strings = [names[c] for c in ("currency", "resource_group", "resource_id", "charge_type")]
                    file = pq.ParquetFile(handle, read_dictionary=strings)
                    for group in range(file.metadata.num_row_groups):
                        table = file.read_row_group(group, columns=list(names.values()))
                        yield f"{where} (row group {group})", table.rename_columns(list(names))
            else:
                yield from ((where, batch) for batch in _csv_batches(fs, path, where))
            if progress:
                progress(number, len(files), where)


def resolve_columns(names: list[str], where: str) -> dict[str, str]:
    """logical column -> the file's own name for it; a missing one is an error naming it."""
    by_lower = {n.strip().lstrip("\ufeff").lower(): n for n in names}
    found, missing = {}, []
    for logical, spellings in COLUMNS.items():
        name = next((by_lower[s.lower()] for s in spellings if s.lower() in by_lower), None)
        if name is None:
            missing.append(" or ".join(spellings))
        else:
            found[logical] = name
    if missing:
        raise BillingExportError(
            f"{where}: column {', '.join(missing)} missing; is this an Azure cost details export "
            "(actual or amortized cost, EA or MCA schema)?"
        )
    return found


def _csv_batches(fs, path: str, where: str) -> Iterator[pa.Table]:
    with fs.open(path, "rb", compression="infer") as stream:
        header = next(csv.reader([io.TextIOWrapper(stream, encoding="utf-8-sig").readline()]), [])
    names = resolve_columns(header, where)
    types = {name: pa.string() for logical, name in names.items() if logical != "cost"}
    with fs.open(path, "rb", compression="infer") as stream:
        try:
            reader = pv.open_csv(
                stream,
                # the header as read above (without a byte order mark), not Arrow's first line
                read_options=pv.ReadOptions(block_size=BLOCK_SIZE, column_names=header, skip_rows=1),
                convert_options=pv.ConvertOptions(
                    include_columns=list(names.values()),
                    column_types=types | {names["cost"]: pa.float64()},
                    strings_can_be_null=True,
                ),
            )
            for batch in reader:
                yield pa.Table.from_batches([batch]).select(list(names.values())).rename_columns(list(names))
        except pa.ArrowInvalid as e:
            raise BillingExportError(f"{where}: not a readable cost details CSV: {e}") from None


def _text(column) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column.cast(pa.string())


def _distinct(column, parse, default=None) -> tuple[list, np.ndarray]:
    """(values, indices): `parse` applied once to each distinct value of a string column (exports
    repeat dates, groups, tags and ids on many rows), `default` last for null cells, and each
    row's index into them."""
    encoded = pc.dictionary_encode(_text(column))
    values = [parse(v) for v in encoded.dictionary.to_pylist()] + [default]
    return values, encoded.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)


def _strings(values: list, indices: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(indices))


def _day(text: str | None) -> int:
    if not text:
        raise ValueError("a row without a Date")
    text = text.strip()
    if "/" in text:  # exports write MM/DD/YYYY
        day = dt.datetime.strptime(text[:10].strip(), "%m/%d/%Y").date()
    else:
        day = dt.date.fromisoformat(text[:10])
    return (day - EPOCH).days


def row_days(column) -> np.ndarray:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        days = pc.cast(column, pa.date32()).cast(pa.int32())
        return days.fill_null(-(10**6)).to_numpy(zero_copy_only=False).astype(np.int64)
    values, indices = _distinct(column, _day)
    if values[-1] is None and (indices == len(values) - 1).any():
        raise ValueError("a row without a Date")
    return np.array(values[:-1] + [0], dtype=np.int64)[indices]


def parse_tags(text: str | None) -> dict[str, str]:
    """A Tags cell: a JSON object (MCA) or its members without braces (EA: `"k": "v","k2": "v2"`);
    keys lower case (Azure tag names are case-insensitive)."""
    text = (text or "").strip()
    if not text:
        return {}
    parsed = json.loads(text if text.startswith("{") else "{" + text + "}")
    if not isinstance(parsed, dict):
        raise ValueError(f"Tags {text[:80]!r} is not an object")
    return {str(k).lower(): str(v) for k, v in parsed.items()}


def _tag_columns(column) -> tuple[pa.Array, pa.Array, pa.Array]:
    """(cluster, namespace, hub) per row from the Tags column (JSON text or a map)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_map(column.type):
        dicts = [{str(k).lower(): v for k, v in (row or [])} for row in column.to_pylist()]
        indices = np.arange(len(dicts))
    else:
        dicts, indices = _distinct(column, parse_tags, default={})

    def first(keys):
        per_value = [next((d[k] for k in keys if d.get(k)), None) for d in dicts]
        return _strings(per_value, indices)

    return first(CLUSTER_TAGS), first(NAMESPACE_TAGS), first(HUB_TAGS)


def _group(name: str) -> str:
    name = name.strip().lower()
    return "" if name in NO_GROUP else name


def _group_and_cluster(batch: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(project, cluster from the ResourceId) per row: lower-case resource group, and the AKS
    cluster a managedClusters resource id names (null elsewhere)."""
    project = _strings(*_distinct(batch["resource_group"], _group, default=""))

    def cluster_of(resource: str | None) -> str | None:
        match = _MANAGED_CLUSTER.search((resource or "").lower())
        return match[1] if match else None

    return project, _strings(*_distinct(batch["resource_id"], cluster_of))


def reduce_azure(batch: pa.Table, first_day: int, end_day: int):
    """One batch (logical column names) -> (groups, totals) as hub_ops.costs.usage sums them, or None."""
    days = row_days(batch["date"])
    inside = (days >= first_day) & (days < end_day)
    if not inside.any():
        return None
    if not inside.all():
        batch, days = batch.filter(pa.array(inside)), days[inside]
    try:
        tag_cluster, namespace, hub = _tag_columns(batch["tags"])
    except ValueError as e:
        raise ValueError(f"column Tags is not JSON text of tags: {e}") from None
    project, id_cluster = _group_and_cluster(batch)
    cluster = pc.coalesce(id_cluster, pc.utf8_lower(tag_cluster))
    hub_namespace = pc.binary_join_element_wise(pa.scalar(HUB_TAG_PREFIX), hub, "")
    amount = to_nanos(batch["cost"].combine_chunks())
    charge = pc.utf8_lower(_text(batch["charge_type"]))
    credit = pc.is_in(charge, pa.array(CREDIT_CHARGES)).fill_null(False).to_numpy(zero_copy_only=False)
    currency = _text(batch["currency"])
    table = pa.table(
        {
            "day": pa.array(days.astype(np.int32)),
            "project": project,
            "cluster": pc.fill_null(cluster, ""),
            "namespace": pc.fill_null(pc.coalesce(namespace, hub_namespace), ""),
            "currency": currency,
            "cost_nanos": np.where(credit, 0, amount),
            "credits_nanos": np.where(credit, amount, 0),
            "rows": np.ones(len(days), dtype=np.int64),
        }
    )
    return sum_by(table.select(GROUP_KEYS + SUMS), GROUP_KEYS), sum_by(table, TOTAL_KEYS)
