"""Read detailed billing export files at any fsspec URL: Parquet, CSV, newline-delimited JSON.

`ExportFiles(url, storage).aggregate(start, end)` reduces the rows of [start, end) to a Usage.
It reads only what a report needs: Parquet a row group at a time, only the leaf columns
usage_start_time, project.id, labels.key/value, cost, currency and credits.amount (strings as
dictionaries), skipping row groups whose usage_start_time statistics fall outside the period;
CSV and JSON in blocks of 16 MiB. Memory is bounded by one row group, whatever the file size.
A file never changes: reading is side-effect free and can be rerun.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pyarrow.json as pj
import pyarrow.parquet as pq

from hub_ops.clients.storage import Storage
from hub_ops.costs.crosscheck import ExportNet, files_net
from hub_ops.costs.errors import BillingExportError
from hub_ops.costs.schema import NEEDED_COLUMNS, NEEDED_SCHEMA
from hub_ops.costs.usage import Usage, UsageAccumulator

FORMATS = {".parquet": "parquet", ".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}
BLOCK_SIZE = 16 << 20
# (done, total, what): called after each row group or block
Progress = Callable[[int, int, str], None]


def export_format(path: str) -> str | None:
    name = path.lower().removesuffix(".gz")
    return next((fmt for ext, fmt in FORMATS.items() if name.endswith(ext)), None)


@dataclass(frozen=True)
class ExportFiles:
    """Export files: one file, or every export file under a folder URL (sorted by name)."""

    url: str
    storage: Storage = Storage()

    @property
    def description(self) -> str:
        return self.url

    def files(self) -> list[tuple[str, str]]:
        fs, path = self.storage.filesystem(self.url)
        if not fs.exists(path):
            raise BillingExportError(f"{self.url}: no such file or folder (the billing export files)")
        found = sorted(fs.find(path)) if fs.isdir(path) else [path]
        files = [(p, fmt) for p in found if (fmt := export_format(p))]
        if not files:
            raise BillingExportError(
                f"{self.url}: no export files there (expected .parquet, .csv, .json, .jsonl or .ndjson, optionally .gz)"
            )
        return files

    def aggregate(self, start: dt.date, end: dt.date, progress: Progress | None = None) -> Usage:
        """The usage of [start, end) (UTC days of usage_start_time) from every export file."""
        accumulator = UsageAccumulator(self.url, start, end)
        for where, batch in self.batches(start, end, progress):
            accumulator.add_raw(batch, where)
        return accumulator.result()

    def independent_net(self, start: dt.date, end: dt.date) -> ExportNet:
        """The reconciliation check's second read of the same files, sharing no code with this
        reader (hub_ops.costs.crosscheck)."""
        return files_net(self.url, self.storage, start, end)

    def batches(
        self, start: dt.date, end: dt.date, progress: Progress | None = None
    ) -> Iterator[tuple[str, pa.RecordBatch]]:
        fs, _ = self.storage.filesystem(self.url)
        files = self.files()
        for number, (path, fmt) in enumerate(files, 1):
            where = fs.unstrip_protocol(path)
            if fmt == "parquet":
                yield from _parquet_batches(fs, path, where, start, end, progress)
            else:
                with fs.open(path, "rb", compression="infer") as stream:
                    reader = _csv_batches if fmt == "csv" else _json_batches
                    for batch in reader(stream, where):
                        yield where, batch
            if progress and fmt != "parquet":
                progress(number, len(files), where)


# ------------------------------------------------------------------ Parquet


def _parquet_batches(
    fs, path: str, where: str, start: dt.date, end: dt.date, progress: Progress | None
) -> Iterator[tuple[str, pa.RecordBatch]]:
    local = type(fs).__name__ == "LocalFileSystem"
    handle = path if local else fs.open(path, "rb")
    try:
        meta = pq.read_metadata(handle) if local else pq.ParquetFile(handle).metadata
        leaves = [meta.schema.column(i).path for i in range(meta.num_columns)]
        columns = _needed_leaves(leaves, where)
        strings = [leaf for leaf in columns if meta.schema.column(leaves.index(leaf)).physical_type == "BYTE_ARRAY"]
        file = pq.ParquetFile(handle, read_dictionary=strings)
        time_column = leaves.index("usage_start_time")
        low = dt.datetime.combine(start, dt.time(), dt.UTC)
        high = dt.datetime.combine(end, dt.time(), dt.UTC)
        for group in range(meta.num_row_groups):
            if not _may_overlap(meta.row_group(group).column(time_column).statistics, low, high):
                continue
            table = file.read_row_group(group, columns=columns)
            for batch in table.to_batches():
                yield f"{where} (row group {group})", batch
            if progress:
                progress(group + 1, meta.num_row_groups, where)
    finally:
        if not local:
            handle.close()


def _needed_leaves(leaves: list[str], where: str) -> list[str]:
    """Leaf paths to read: whole labels (key, value), only project.id and credits' amount."""
    wanted = []
    for column in NEEDED_COLUMNS:
        under = [leaf for leaf in leaves if leaf == column or leaf.startswith(column + ".")]
        if column == "project":
            under = [leaf for leaf in under if leaf == "project.id"]
        elif column == "credits":
            under = [leaf for leaf in under if leaf.endswith(".amount")]
        elif column == "labels":
            under = [leaf for leaf in under if leaf.endswith((".key", ".value"))]
        if not under:
            name = {"project": "project.id", "credits": "credits.amount"}.get(column, column)
            raise BillingExportError(
                f"{where}: column {name} missing; is this the detailed usage cost "
                "export (gcp_billing_export_resource_v1_*)?"
            )
        wanted += under
    return wanted


def _may_overlap(stats, low: dt.datetime, high: dt.datetime) -> bool:
    if stats is None or not stats.has_min_max:
        return True
    lo, hi = stats.min, stats.max
    if not isinstance(lo, dt.datetime):
        return True
    if lo.tzinfo is None:
        lo, hi = lo.replace(tzinfo=dt.UTC), hi.replace(tzinfo=dt.UTC)
    return hi >= low and lo < high


# ------------------------------------------------------------------ CSV and JSON


def _csv_batches(stream, where: str) -> Iterator[pa.RecordBatch]:
    types = {f.name: (pa.string() if pa.types.is_nested(f.type) else f.type) for f in NEEDED_SCHEMA}
    try:
        reader = pv.open_csv(
            stream,
            read_options=pv.ReadOptions(block_size=BLOCK_SIZE),
            convert_options=pv.ConvertOptions(
                include_columns=list(NEEDED_COLUMNS), column_types=types, strings_can_be_null=True
            ),
        )
        for batch in reader:
            yield pa.RecordBatch.from_arrays(
                [
                    parse_json_column(batch.column(f.name), f.type, where, f.name)
                    if pa.types.is_nested(f.type)
                    else batch.column(f.name)
                    for f in NEEDED_SCHEMA
                ],
                schema=NEEDED_SCHEMA,
            )
    except (pa.ArrowInvalid, KeyError) as e:
        raise BillingExportError(
            f"{where}: not a CSV billing export with columns {', '.join(NEEDED_COLUMNS)} "
            f"(nested columns as JSON text): {e}"
        ) from None


def parse_json_column(texts: pa.Array, type_: pa.DataType, where: str = "", name: str = "") -> pa.Array:
    """JSON text per row (as TO_JSON_STRING writes it) -> arrow values of `type_`, in one parse."""
    texts = pc.if_else(pc.equal(pc.utf8_length(texts.fill_null("")), 0), "null", texts.fill_null("null"))
    lines = pc.binary_join_element_wise('{"v":', texts, "}", "")
    document = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n")
    try:
        table = pj.read_json(
            io.BytesIO(document[0].as_py().encode()),
            parse_options=pj.ParseOptions(
                explicit_schema=pa.schema([("v", type_)]), unexpected_field_behavior="ignore"
            ),
        )
    except pa.ArrowInvalid as e:
        raise BillingExportError(f"{where}: column {name} is not JSON of {type_}: {e}") from None
    return table.column("v").combine_chunks()


def _json_batches(stream, where: str) -> Iterator[pa.RecordBatch]:
    try:
        reader = pj.open_json(
            stream,
            read_options=pj.ReadOptions(block_size=BLOCK_SIZE),
            parse_options=pj.ParseOptions(explicit_schema=NEEDED_SCHEMA, unexpected_field_behavior="ignore"),
        )
        yield from reader
    except pa.ArrowInvalid as e:
        raise BillingExportError(f"{where}: not newline-delimited JSON of the billing export: {e}") from None
