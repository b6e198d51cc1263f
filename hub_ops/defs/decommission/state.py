"""Which hubs are decommissioned: read from the hub_decommissions records."""

import dagster as dg

from hub_ops.defs.decommission.assets import HUB_DECOMMISSIONS

DECOMMISSIONED, BACKUPS_EXPIRED = "decommissioned", "backups expired"


def decommission_records(instance: dg.DagsterInstance) -> dict[str, dict]:
    """Latest hub_decommissions metadata per hub id (`cluster/hub`), as plain values."""
    out = {}
    for key in instance.get_materialized_partitions(HUB_DECOMMISSIONS):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=HUB_DECOMMISSIONS, asset_partitions=[key]), limit=1
        ).records
        if records:
            meta = records[0].asset_materialization.metadata or {}
            out[key.replace(".", "/", 1)] = {k: getattr(v, "value", v) for k, v in meta.items()}
    return out


def decommissioned_hubs(instance: dg.DagsterInstance) -> dict[str, str]:
    """Hub ids that are retired, with the reason deploys and backups skip them."""
    return {
        hub: f"decommissioned on {rec.get('decommissioned_on', '?')}"
        for hub, rec in decommission_records(instance).items()
        if rec.get("state") in (DECOMMISSIONED, BACKUPS_EXPIRED)
    }
