"""Which reader an export needs, told by its columns, and one report across several exports.

Kinds (fleet.yaml `costs.billing[].format`, `hub-ops cost-report --format`):
`gcp` (Cloud Billing detailed export: usage_start_time, cost, credits), `aws-cur` (CUR 2.0:
line_item_unblended_cost), `focus` (FOCUS 1.0-1.2: BilledCost), `azure` (Cost Management cost
details, actual or amortized, EA or MCA schema: CostInBillingCurrency in any case). Reading only:
safe to rerun.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass

import pyarrow.parquet as pq

from hub_ops.clients.storage import Storage
from hub_ops.costs.azure import AzureCostExport
from hub_ops.costs.crosscheck import ExportNet
from hub_ops.costs.cur import CurExport
from hub_ops.costs.errors import BillingExportError
from hub_ops.costs.focus import FocusExport
from hub_ops.costs.readers import ExportFiles, export_format
from hub_ops.costs.usage import Usage, combine

# a column that only that kind has -> the kind
MARKERS = (
    ("line_item_unblended_cost", "aws-cur"),
    ("BilledCost", "focus"),
    ("costinbillingcurrency", "azure"),  # EA CostInBillingCurrency, MCA costInBillingCurrency
    ("usage_start_time", "gcp"),
)
READERS = {"gcp": ExportFiles, "aws-cur": CurExport, "focus": FocusExport, "azure": AzureCostExport}


def _columns(fs, path: str, fmt: str) -> list[str]:
    with fs.open(path, "rb", compression="infer") as stream:
        if fmt == "parquet":
            return pq.read_schema(stream).names
        line = io.TextIOWrapper(stream, encoding="utf-8").readline()
    if fmt == "csv":
        return [c.strip().strip('"').lstrip("\ufeff") for c in line.split(",")]
    try:
        return list(json.loads(line)) if line.strip() else []
    except ValueError:
        return []


def detect_format(url: str, storage: Storage) -> str:
    """The kind of export at `url`, from the columns of its first data file."""
    fs, path = storage.filesystem(url)
    if not fs.exists(path):
        raise BillingExportError(f"{url}: no such file or folder (the billing export)")
    found = sorted(fs.find(path)) if fs.isdir(path) else [path]
    # an Azure export run's manifest.json is not a data file
    first = next(((p, f) for p in found if (f := export_format(p)) and not p.endswith("manifest.json")), None)
    if first is None:
        raise BillingExportError(f"{url}: no export files there (.parquet, .csv, .json; optionally .gz)")
    columns = _columns(fs, *first)
    lower = {c.lower() for c in columns}
    kind = next((k for marker, k in MARKERS if marker in columns or (k == "azure" and marker in lower)), None)
    if kind is None:
        shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
        raise BillingExportError(
            f"{fs.unstrip_protocol(first[0])}: cannot tell the export's kind from its columns ({shown}); "
            "give the format (gcp, aws-cur, focus, azure)"
        )
    return kind


def export_source(url: str, storage: Storage, fmt: str | None = None):
    """The reader of the export files at `url`: of kind `fmt`, or the kind its columns say."""
    kind = fmt or detect_format(url, storage)
    if kind not in READERS:
        raise BillingExportError(f"{url}: a {kind} export; hub_ops reads {', '.join(READERS)} exports")
    return READERS[kind](url, storage)


@dataclass(frozen=True)
class Sources:
    """Several exports read as one: one Usage of the period, one currency (MixedCurrencyError)."""

    sources: tuple

    @property
    def description(self) -> str:
        return " + ".join(s.description for s in self.sources)

    def aggregate(self, start: dt.date, end: dt.date, progress=None) -> Usage:
        return combine([s.aggregate(start, end, progress) for s in self.sources])

    def independent_net(self, start: dt.date, end: dt.date) -> ExportNet:
        """Each source's own independent re-read, added up day by day."""
        nets = [s.independent_net(start, end) for s in self.sources]
        total = ExportNet("; ".join(n.how for n in nets))
        for net in nets:
            for day, value in net.net_by_day.items():
                total.add(day, value, net.rows_by_day.get(day, 0))
            total.currencies |= net.currencies
        return total
