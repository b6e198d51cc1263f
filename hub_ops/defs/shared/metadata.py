"""Reading back what an asset recorded: Dagster hands metadata back as MetadataValue
objects; the typed readers next to each writer (deploy.assets, clusters.assets,
decommission.records, decommission.journal) turn it into plain values with this."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg


def plain_values(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """{key: the plain value} of a materialization's or observation's metadata."""
    return {
        key: value.value if isinstance(value, dg.MetadataValue) else value for key, value in (metadata or {}).items()
    }


def latest_materialization_metadata(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None = None
) -> dict[str, Any] | None:
    """Plain metadata of the asset's (partition's) latest materialization, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    return plain_values(records[0].asset_materialization.metadata)
