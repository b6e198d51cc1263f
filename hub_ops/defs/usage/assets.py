"""Usage assets: `hub_usage` (a day: active users, servers started, peak concurrent servers
per hub, from each hub's API) and `home_storage` (a day: home sizes per hub from the latest
backup manifests)."""

import dagster as dg

from hub_ops.backup.config import backup_destination
from hub_ops.defs.shared.resources import FleetResource, JupyterHubResource, SopsResource, StorageResource
from hub_ops.deploy.values import ValuesError
from hub_ops.usage.activity import UsageLedger
from hub_ops.usage.tables import DAILY_COLUMNS, STORAGE_COLUMNS, ledger_folder, storage_rows, usage_day

START = "2026-01-01"
daily_partitions = dg.DailyPartitionsDefinition(start_date=START, timezone="UTC", end_offset=1)


def table(rows: list[dict], columns: list[str]) -> dg.MetadataValue:
    """Rows as a native UI table; a missing figure stays empty, never 0."""

    def kind(column: str) -> str:
        values = [row.get(column) for row in rows if row.get(column) is not None]
        return "int" if values and all(isinstance(v, int) for v in values) else "string"

    schema = dg.TableSchema(columns=[dg.TableColumn(c, kind(c)) for c in columns])
    return dg.MetadataValue.table([dg.TableRecord({c: row.get(c) for c in columns}) for row in rows], schema=schema)


def _apis(fleet, hub_api: JupyterHubResource, sops: SopsResource) -> dict:
    apis = {}
    for hub in fleet.hubs():
        try:
            apis[hub.id] = hub_api.for_hub(fleet, hub, sops.client()) or "no hub-ops service token in the hub's values"
        except ValuesError as e:
            apis[hub.id] = f"values not readable: {e}"
    return apis


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"jupyterhub"},
    group_name="usage",
    description="Per hub and UTC day: users active, servers started, peak concurrent servers (the most "
    "running at any one observation), from each hub's REST API folded into a ledger under "
    "<reports destination>/usage/activity. Materialize today's partition hourly; a hub that cannot "
    "be asked is listed with the reason, never as 0.",
)
def hub_usage(
    context: dg.AssetExecutionContext,
    fleet: FleetResource,
    storage: StorageResource,
    sops: SopsResource,
    hub_api: JupyterHubResource,
) -> dg.MaterializeResult:
    loaded = fleet.load()
    day = context.partition_time_window.start.date()
    ledger = UsageLedger(storage.client(), ledger_folder(loaded.settings.reports.destination))
    rows = usage_day(ledger, _apis(loaded, hub_api, sops), day)
    for row in rows:
        if row["status"] != "ok":
            context.log.warning(f"{row['hub']}: {row['status']}")
    counted = [r for r in rows if r["active_users"] is not None]
    return dg.MaterializeResult(
        metadata={
            "hubs": table(rows, DAILY_COLUMNS),
            "active_users": sum(r["active_users"] for r in counted),
            "hubs_counted": len(counted),
            "hubs_not_counted": len(rows) - len(counted),
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"gcs"},
    group_name="usage",
    description="Per hub: home bytes and files, homes, growth since the previous snapshot and over 30 days, "
    "from the latest backup manifest (no scan of the homes); the 10 largest homes for operators, "
    "names hashed unless fleet.yaml usage.show_user_names.",
)
def home_storage(context: dg.AssetExecutionContext, fleet: FleetResource, storage: StorageResource):
    loaded = fleet.load()
    destinations = {hub.id: backup_destination(loaded, hub) for hub in loaded.hubs()}
    summaries, largest = storage_rows(storage.client(), destinations, loaded.settings.usage.show_user_names)
    counted = [r for r in summaries if r.get("home_bytes") is not None]
    return dg.MaterializeResult(
        metadata={
            "hubs": table(summaries, STORAGE_COLUMNS),
            "largest_homes": table(largest, ["hub", "rank", "user", "bytes", "files"]),
            "home_bytes": sum(r["home_bytes"] for r in counted),
            "hubs_with_backups": len(counted),
        }
    )
