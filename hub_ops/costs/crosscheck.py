"""The export's net total, read a second time through a path that shares no code with the
report's reader, and compared with the report files as written.

Why: the report's own totals (Usage.totals) come from the same batches as its lines, so a
reading error (credits dropped, a file read twice, an amount column mis-parsed) moves both
the same way and a comparison between them still agrees. This module re-reads the export:

- files: its own listing of the export files and `pyarrow.dataset` scanners (not the
  row-group reader, CSV stream or JSON stream of hub_ops.costs.readers), amounts converted to
  decimal128(38, 9) and summed per day in decimal (not int64 nanos), credits of CSV exports
  parsed from their JSON text by Python's json module (not Arrow's JSON reader);
- BigQuery: a separate `SUM` query in NUMERIC, its rows read one by one (BigQueryExport.net);
- Azure cost details (`azure_net`): every CSV / Parquet file under the URL scanned by
  `pyarrow.dataset`, CostInBillingCurrency as decimal by Date (no tag, group or charge type read);
- AWS CUR 2.0 (`cur_net`): every Parquet file under the URL (no BILLING_PERIOD pruning), one
  `pyarrow.dataset` scan per file of the amount column as decimal, filtered by day in Arrow; no
  tag, pod or split column is read, so a mistake in the split arithmetic shows.

`compare_days` / `compare_month` then put the net_cost sums of the files read back next to it.
Tolerance (stated in every result): each report figure is rounded to the cent once (half to
even), so it may differ from the exact sum by half a cent; a total over several rounded
figures (the days of a daily run) by half a cent per figure. `SLACK` (a hundredth of a cent)
covers the nano-rounding of single amounts, which the two paths do separately.
Reading only: safe to rerun.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.dataset as ds
import pyarrow.json as pj

from hub_ops.costs.errors import BillingExportError

DECIMAL = pa.decimal128(38, 9)  # BigQuery's NUMERIC: 9 decimals, as the export's amounts need
HALF_CENT = Decimal("0.005")
SLACK = Decimal("0.0001")
# the export formats by name ending; kept apart from readers.FORMATS on purpose (a listing bug
# there must not be repeated here)
_ENDINGS = (
    (".parquet", "parquet"),
    (".csv", "csv"),
    (".csv.gz", "csv"),
    (".json", "json"),
    (".jsonl", "json"),
    (".ndjson", "json"),
    (".json.gz", "json"),
    (".jsonl.gz", "json"),
    (".ndjson.gz", "json"),
)
COLUMNS = ["usage_start_time", "cost", "currency", "credits"]
_JSON_SCHEMA = pa.schema(
    [
        ("usage_start_time", pa.string()),
        ("cost", pa.float64()),
        ("currency", pa.string()),
        ("credits", pa.list_(pa.struct([("amount", pa.float64())]))),
    ]
)


@dataclass
class ExportNet:
    """Net cost (cost + credits, exact decimals) per UTC day of usage_start_time, from one
    independent read of the export, with the currencies and the number of rows seen."""

    how: str  # what was read, and how: for people reading the check
    net_by_day: dict[str, Decimal] = field(default_factory=dict)  # "YYYY-MM-DD" -> net
    rows_by_day: dict[str, int] = field(default_factory=dict)
    currencies: set[str] = field(default_factory=set)

    def add(self, day: str, net: Decimal, rows: int) -> None:
        self.net_by_day[day] = self.net_by_day.get(day, Decimal(0)) + net
        self.rows_by_day[day] = self.rows_by_day.get(day, 0) + rows

    @property
    def total(self) -> Decimal:
        return sum(self.net_by_day.values(), Decimal(0))


# ------------------------------------------------------------------ files


def files_net(url: str, storage, start: dt.date, end: dt.date) -> ExportNet:
    """The export files' net per day of [start, end), read with pyarrow.dataset."""
    fs, path = storage.filesystem(url)
    if not fs.exists(path):
        raise BillingExportError(f"{url}: no such file or folder (the billing export files)")
    names = sorted(fs.find(path)) if fs.isdir(path) else [path]
    files = [(name, fmt) for name in names for ending, fmt in _ENDINGS if name.lower().endswith(ending)]
    if not files:
        raise BillingExportError(f"{url}: no export files there (independent re-read of the billing export)")
    net = ExportNet(f"{len(files)} export file(s) under {url}, re-read with pyarrow.dataset and summed in decimal")
    low = dt.datetime.combine(start, dt.time(), dt.UTC)
    high = dt.datetime.combine(end, dt.time(), dt.UTC)
    for name, fmt in files:
        where = fs.unstrip_protocol(name)
        try:
            for batch in _scan(fs, name, fmt, low, high):
                _add_batch(net, batch, fmt, start, end)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, KeyError) as e:
            first_line = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise BillingExportError(
                f"{where}: cannot re-read the export for the reconciliation check: {first_line}"
            ) from None
    return net


def _scan(fs, name: str, fmt: str, low: dt.datetime, high: dt.datetime):
    if fmt == "parquet":
        dataset = ds.dataset(name, filesystem=fs, format="parquet")
        time_type = dataset.schema.field("usage_start_time").type
        # typed timestamps let the scanner skip row groups outside the period
        where = None
        if pa.types.is_timestamp(time_type):
            bounds = [pa.scalar(t, pa.timestamp("us", tz="UTC")).cast(time_type) for t in (low, high)]
            where = (ds.field("usage_start_time") >= bounds[0]) & (ds.field("usage_start_time") < bounds[1])
        yield from dataset.to_batches(columns=COLUMNS, filter=where)
    elif fmt == "csv":
        strings = {c: pa.string() for c in ("usage_start_time", "currency", "credits")}
        csv = ds.CsvFileFormat(
            convert_options=pv.ConvertOptions(column_types=strings | {"cost": pa.float64()}, strings_can_be_null=True)
        )
        yield from ds.dataset(name, filesystem=fs, format=csv).to_batches(columns=COLUMNS)
    else:
        json_format = ds.JsonFileFormat(
            parse_options=pj.ParseOptions(explicit_schema=_JSON_SCHEMA, unexpected_field_behavior="ignore")
        )
        yield from ds.dataset(name, filesystem=fs, format=json_format).to_batches(columns=COLUMNS)


def _days(times: pa.Array) -> pa.Array:
    """ISO day strings of usage_start_time (UTC)."""
    if pa.types.is_timestamp(times.type):
        utc = pc.cast(times, pa.timestamp("us", tz="UTC")) if times.type.tz else times  # naive: UTC
        return pc.strftime(utc, format="%Y-%m-%d")
    text = times.dictionary_decode() if pa.types.is_dictionary(times.type) else times
    # BigQuery writes "2026-10-01 00:00:00 UTC" (or ISO 8601 with Z): the day is the first 10 characters
    return pc.utf8_slice_codeunits(text.cast(pa.string()), 0, 10)


def _credit_amounts(credits: pa.Array, fmt: str) -> tuple[pa.Array, pa.Array]:
    """(row index, amount) of every credit."""
    if fmt == "csv":  # JSON text per row
        rows, amounts = [], []
        for i, text in enumerate(credits.to_pylist()):
            for credit in json.loads(text) if text else ():
                rows.append(i)
                amounts.append(credit.get("amount") if isinstance(credit, dict) else None)
        return pa.array(rows, pa.int64()), pa.array(amounts, pa.float64())
    parents = pc.list_parent_indices(credits)
    return parents, pc.struct_field(pc.list_flatten(credits), "amount")


def _add_batch(net: ExportNet, batch: pa.RecordBatch, fmt: str, start: dt.date, end: dt.date) -> None:
    days = _days(batch.column("usage_start_time"))
    rows, amounts = _credit_amounts(batch.column("credits"), fmt)
    costs = batch.column("cost").cast(pa.float64()).cast(DECIMAL)
    parts = pa.table(
        {
            "day": pa.concat_arrays([days, days.take(rows)]),
            "amount": pa.concat_arrays([costs, amounts.cast(DECIMAL)]),
            "row": pa.concat_arrays([pa.array([1] * len(days), pa.int64()), pa.array([0] * len(amounts), pa.int64())]),
        }
    )
    first, last = start.isoformat(), (end - dt.timedelta(days=1)).isoformat()
    inside = pc.and_(pc.greater_equal(parts["day"], first), pc.less_equal(parts["day"], last))
    summed = parts.filter(inside).group_by("day").aggregate([("amount", "sum"), ("row", "sum")])
    for day, amount, rows_of_day in zip(*(summed[c].to_pylist() for c in ("day", "amount_sum", "row_sum"))):
        net.add(day, amount or Decimal(0), rows_of_day)
    in_period = pc.and_(pc.greater_equal(days, first), pc.less_equal(days, last))
    currency = batch.column("currency")
    net.currencies.update(c for c in pc.unique(currency.filter(in_period)).to_pylist() if c)


# ------------------------------------------------------------------ AWS CUR 2.0


def cur_net(url: str, storage, start: dt.date, end: dt.date) -> ExportNet:
    """The CUR export's net per day of [start, end): the sum of line_item_net_unblended_cost
    where a file has that column, else of line_item_unblended_cost, by line_item_usage_start_date."""

    def columns(fields: list[str]) -> tuple[str, str, str]:
        net = "line_item_net_unblended_cost"
        amount = net if net in fields else "line_item_unblended_cost"
        return "line_item_usage_start_date", amount, "line_item_currency_code"

    return _column_net(url, storage, start, end, columns)


def focus_net(url: str, storage, start: dt.date, end: dt.date) -> ExportNet:
    """A FOCUS export's BilledCost per day of ChargePeriodStart in [start, end)."""
    return _column_net(url, storage, start, end, lambda _: ("ChargePeriodStart", "BilledCost", "BillingCurrency"))


def azure_net(url: str, storage, start: dt.date, end: dt.date) -> ExportNet:
    """An Azure cost details export's CostInBillingCurrency per Date in [start, end), the columns
    found by their lower-case names (EA and MCA spell them differently), MM/DD/YYYY dates turned
    to ISO by Arrow's strptime; no tag, group or charge type is read."""

    def columns(fields: list[str]) -> tuple[str, str, str]:
        found = {f.lower(): f for f in fields}
        currency = found.get("billingcurrencycode") or found["billingcurrency"]
        return found["date"], found["costinbillingcurrency"], currency

    return _column_net(url, storage, start, end, columns, _azure_days)


def _column_net(url: str, storage, start: dt.date, end: dt.date, columns_of, days_of=None) -> ExportNet:
    """Sum of one amount column per day of one time column (`columns_of(file's columns)` ->
    (time, amount, currency)), over every Parquet or CSV file under `url`, each scanned by
    pyarrow.dataset, amounts as decimal."""
    days_of = days_of or _days
    fs, path = storage.filesystem(url)
    if not fs.exists(path):
        raise BillingExportError(f"{url}: no such file or folder (the billing export)")
    names = sorted(fs.find(path)) if fs.isdir(path) else [path]
    names = [n for n in names if n.lower().endswith((".parquet", ".csv", ".csv.gz"))]
    if not names:
        raise BillingExportError(f"{url}: no Parquet or CSV files there (independent re-read of the export)")
    net = ExportNet(f"{len(names)} file(s) under {url}, re-read with pyarrow.dataset and summed in decimal")
    first, last = start.isoformat(), (end - dt.timedelta(days=1)).isoformat()
    for name in names:
        fmt = "parquet" if name.lower().endswith(".parquet") else "csv"
        try:
            time, amount, currency = columns_of(ds.dataset(name, filesystem=fs, format=fmt).schema.names)
        except KeyError as e:
            raise BillingExportError(f"{fs.unstrip_protocol(name)}: column {e} missing (independent re-read)") from None
        if fmt == "csv":
            fmt = ds.CsvFileFormat(
                read_options=pv.ReadOptions(encoding="utf-8-sig"),
                convert_options=pv.ConvertOptions(column_types={time: pa.string(), currency: pa.string()}),
            )
        dataset = ds.dataset(name, filesystem=fs, format=fmt)
        try:
            for batch in dataset.to_batches(columns=[time, amount, currency]):
                days = days_of(batch.column(0))
                inside = pc.and_(pc.greater_equal(days, first), pc.less_equal(days, last)).fill_null(False)
                rows = pa.array(np.ones(len(days), dtype=np.int64))
                part = pa.table({"day": days, "amount": batch.column(1).cast(pa.float64()).cast(DECIMAL), "row": rows})
                summed = part.filter(inside).group_by("day").aggregate([("amount", "sum"), ("row", "sum")])
                for day, value, count in zip(*(summed[c].to_pylist() for c in ("day", "amount_sum", "row_sum"))):
                    net.add(day, value or Decimal(0), count)
                net.currencies.update(c for c in pc.unique(batch.column(2).filter(inside)).to_pylist() if c)
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as e:
            raise BillingExportError(f"{fs.unstrip_protocol(name)}: cannot re-read the export: {e}") from None
    return net


# ------------------------------------------------------------------ Azure cost details dates


def _azure_days(dates: pa.Array) -> pa.Array:
    """ISO day strings of an Azure export's Date: MM/DD/YYYY text (as exports write it), ISO text, or typed."""
    if pa.types.is_timestamp(dates.type) or pa.types.is_date(dates.type):
        return pc.strftime(dates.cast(pa.timestamp("s")), format="%Y-%m-%d")
    text = pc.utf8_trim_whitespace(dates.cast(pa.string()))
    us = pc.strftime(pc.strptime(pc.utf8_slice_codeunits(text, 0, 10), "%m/%d/%Y", "s", error_is_null=True), "%Y-%m-%d")
    return pc.if_else(pc.match_substring(text, "/"), us, pc.utf8_slice_codeunits(text, 0, 10))


# ------------------------------------------------------------------ comparison with the files


@dataclass(frozen=True)
class Comparison:
    """One figure of the report (a day, or a total), as summed from each written file, next to
    the independent net and the report reader's own total."""

    label: str
    files: dict[str, Decimal]  # file format -> sum of net_cost as read back
    independent: Decimal
    reader: Decimal | None  # the report's own total for the figure (its reader's batch)
    figures: int = 1  # rounded report figures added up here

    @property
    def tolerance(self) -> Decimal:
        return HALF_CENT * self.figures + SLACK

    @property
    def difference(self) -> Decimal:
        """The file difference largest in size (file - independent)."""
        return max((v - self.independent for v in self.files.values()), key=abs, default=-self.independent)

    @property
    def ok(self) -> bool:
        return bool(self.files) and abs(self.difference) <= self.tolerance


@dataclass(frozen=True)
class CrossCheck:
    comparisons: list[Comparison]
    currency: str  # the report's
    net: ExportNet

    @property
    def currency_ok(self) -> bool:
        return self.net.currencies <= {self.currency}

    @property
    def failed(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.ok]

    @property
    def ok(self) -> bool:
        return self.currency_ok and not self.failed

    def markdown(self, limit: int = 40) -> str:
        """Per figure: each file, the independent net, the report reader's total, the difference.
        Failed rows first when there are more than `limit`; totals always shown."""
        formats = sorted({f for c in self.comparisons for f in c.files})
        rows = self.comparisons
        if len(rows) > limit:
            totals = [c for c in rows if c.figures > 1]
            rest = [c for c in rows if c.figures == 1]
            rest = sorted(rest, key=lambda c: c.ok)[: limit - len(totals)]
            rows = sorted(rest, key=lambda c: c.label) + totals
        head = ["figure", *formats, "independent", "report reader", "difference", "tolerance", "verdict"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for c in rows:
            cells = [c.label, *(_money(c.files.get(f)) for f in formats), _money(c.independent), _money(c.reader)]
            cells += ["+" * (c.difference >= 0) + _money(c.difference), "±" + _money(c.tolerance)]
            cells.append("ok" if c.ok else "**FAILS**")
            lines.append("| " + " | ".join(cells) + " |")
        if len(rows) < len(self.comparisons):
            lines.append(f"\n{len(self.comparisons) - len(rows)} more days agree and are not shown.")
        seen = ", ".join(sorted(self.net.currencies)) or "none"
        verdict = "" if self.currency_ok else " **the report's currency is not the export's**"
        lines.append(f"\nCurrency: report {self.currency or 'none'}, export (re-read) {seen}.{verdict}")
        lines.append(f"Independent read: {self.net.how}.")
        return "\n".join(lines)


def _money(value: Decimal | None) -> str:
    """Exact: cents at least, every nonzero decimal of the independent sums."""
    if value is None:
        return ""
    value = value.normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return f"{value:,f}"


def _file_sum(table: pd.DataFrame, rows=None) -> Decimal:
    """net_cost as written: cents, added as integers (no float sum)."""
    column = table["net_cost"] if rows is None else table.loc[rows, "net_cost"]
    return sum((Decimal(int(round(float(v) * 100))) for v in column), Decimal(0)) / 100


def _nanos(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value) / 10**9


def compare_days(
    files_by_day: dict[str, dict[str, pd.DataFrame]],
    net: ExportNet,
    currency: str,
    reader_nanos_by_day: dict[str, int] | None = None,
) -> CrossCheck:
    """Each day's files (format -> table as read back) against the independent net of that day,
    and all days together against the independent total. A day the independent read saw
    but no file holds is compared too (its files sum to nothing)."""
    reader = reader_nanos_by_day or {}
    days = sorted(set(files_by_day) | set(net.net_by_day))
    formats = sorted({f for files in files_by_day.values() for f in files})
    comparisons = []
    for day in days:
        tables = files_by_day.get(day, {})
        sums = {f: _file_sum(tables[f]) if f in tables else Decimal(0) for f in formats}
        comparisons.append(
            Comparison(day, sums, net.net_by_day.get(day, Decimal(0)), _nanos(reader.get(day)) if reader else None)
        )
    totals = {f: sum((c.files[f] for c in comparisons), Decimal(0)) for f in formats}
    reader_total = _nanos(sum(reader.values())) if reader else None
    comparisons.append(Comparison("total", totals, net.total, reader_total, figures=max(len(days), 1)))
    return CrossCheck(comparisons, currency, net)


def compare_month(
    label: str, files: dict[str, pd.DataFrame], net: ExportNet, currency: str, reader_nanos: int | None = None
) -> CrossCheck:
    """A month's files (one rounded figure: the month) against the independent total."""
    sums = {f: _file_sum(table) for f, table in files.items()}
    return CrossCheck([Comparison(label, sums, net.total, _nanos(reader_nanos))], currency, net)
