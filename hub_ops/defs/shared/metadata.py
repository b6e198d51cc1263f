"""Rows for people and readback of what an asset recorded.

`table` writes rows as Dagster's native table (rendered inline, sortable; markdown tables
hide behind "[Show Markdown]"). Dagster hands metadata back as MetadataValue objects; the
typed readers next to each writer (deploy.assets, clusters.assets, decommission.records,
decommission.journal) turn it into plain values with `plain_values`."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus


def plain_values(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """{key: the plain value} of a materialization's or observation's metadata."""
    return {
        key: value.value if isinstance(value, dg.MetadataValue) else value for key, value in (metadata or {}).items()
    }


def latest_materialization_metadata(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None = None
) -> dict[str, Any] | None:
    """Plain metadata of the asset's (partition's) latest materialization, or None."""
    latest = latest_materialization(instance, asset_key, partition)
    return latest[0] if latest else None


def latest_materialization(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None = None
) -> tuple[dict[str, Any], dt.datetime] | None:
    """(plain metadata, when it was recorded) of the asset's (partition's) latest
    materialization, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    when = dt.datetime.fromtimestamp(records[0].timestamp, dt.UTC)
    return plain_values(records[0].asset_materialization.metadata), when


_TYPES = ((bool, "bool"), (int, "int"), (float, "float"))  # bool first: a bool is an int too


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "item"):  # numpy scalars from a DataFrame
        return _cell(value.item())
    return str(value)


def _column_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    for python_type, name in _TYPES:
        if present and all(isinstance(v, python_type) for v in present):
            return name
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "float"
    return "string"


def table(rows: Iterable[Mapping[str, Any]] | Any, columns: Sequence[str] | None = None) -> dg.MetadataValue:
    """Rows (dicts, or a DataFrame) as a table the UI renders inline and sorts, with a
    TableSchema whose column types come from the values. `columns` fixes the order (and
    gives an empty table its header); by default the first row's keys."""
    if hasattr(rows, "to_dict"):
        columns = list(columns or rows.columns)
        rows = rows.to_dict("records")
    records = [{key: _cell(value) for key, value in row.items()} for row in rows]
    names = list(columns or (records[0].keys() if records else []))
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, _column_type([r.get(name) for r in records])) for name in names]
    )
    return dg.MetadataValue.table(
        [dg.TableRecord({name: r.get(name) for name in names}) for r in records], schema=schema
    )


def table_text(value: Any) -> str:
    """A native table as plain lines ("a: 1, b: x" per row), for messages that are not the UI
    (alerts); anything else as its text."""
    if isinstance(value, dg.TableMetadataValue):
        return "\n".join(", ".join(f"{k}: {v}" for k, v in r.data.items() if v is not None) for r in value.records)
    return "" if value is None else str(value)


def latest_check_metadata(instance: dg.DagsterInstance, asset_key: dg.AssetKey, check_name: str) -> dict[str, Any]:
    """Plain metadata of the check's latest finished evaluation ({} when it never ran)."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(asset_key, check_name),
        limit=1,
        status={AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED},
    )
    event = records[0].event if records else None
    evaluation = event.dagster_event.event_specific_data if event and event.dagster_event else None
    return plain_values(getattr(evaluation, "metadata", None))
