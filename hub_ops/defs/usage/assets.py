"""Usage assets: `hub_usage` (a day: active users, servers started, peak concurrent servers
per hub, from each hub's API), `home_storage` (a day: home sizes per hub from the latest
backup manifests) and `community_reports` (a hub's month, as a page for its community)."""

import datetime as dt
import warnings

import dagster as dg

from hub_ops.backup.config import backup_destination
from hub_ops.defs.decommission.records import decommission_records
from hub_ops.defs.shared.metadata import table
from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.defs.shared.resources import (
    ClockResource,
    FleetResource,
    JupyterHubResource,
    SopsResource,
    StorageResource,
)
from hub_ops.defs.shared.schedules import fleet_settings_at_load, today_at_load
from hub_ops.deploy.values import ValuesError
from hub_ops.fleet.models import partition_start
from hub_ops.usage.activity import UsageLedger

# hub_ops.usage.tables, .community and .community_page (pandas, pyarrow) are imported by the
# steps that use them, not by every load of the definitions

# fleet.yaml usage.start_date (default: the first of last month): "missing" means missing
FIRST_DAY = partition_start(fleet_settings_at_load().usage.start_date, today_at_load())
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC", end_offset=1)
# a community report is one hub's month: the UI shows that hub's page for that month
community_partitions = dg.MultiPartitionsDefinition(
    {
        "month": dg.MonthlyPartitionsDefinition(
            start_date=FIRST_DAY.replace(day=1).isoformat(), timezone="UTC", end_offset=1
        ),
        "hub": hubs_partitions,
    }
)
# chosen knowingly: a month of the report reads the days of the month of its daily upstreams
warnings.filterwarnings("ignore", message=r"Class `MultiToSingleDimensionPartitionMapping`", category=dg.BetaWarning)


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
    "usage/activity in fleet.yaml reports.destination. Materialize today's partition hourly; a hub that cannot "
    "be asked is listed with the reason, never as 0.",
)
def hub_usage(
    context: dg.AssetExecutionContext,
    fleet: FleetResource,
    storage: StorageResource,
    sops: SopsResource,
    hub_api: JupyterHubResource,
) -> dg.MaterializeResult:
    from hub_ops.usage.tables import DAILY_COLUMNS, ledger_folder, usage_day

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
    from hub_ops.usage.tables import STORAGE_COLUMNS, storage_rows

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


def _month_of(upstream: str) -> dg.AssetDep:
    """The days (or the month) of `upstream` within the report's month, for every hub."""
    return dg.AssetDep(upstream, partition_mapping=dg.MultiToSingleDimensionPartitionMapping("month"))


@dg.asset(
    partitions_def=community_partitions,
    deps=[
        _month_of("hub_usage"),
        _month_of("home_storage"),
        _month_of("hub_daily_costs"),
        _month_of("monthly_cost_report"),
    ],
    kinds={"gcs", "html"},
    group_name="usage",
    description="A hub's month for its community, one page as Markdown and standalone HTML under "
    "community/CLUSTER/HUB/YYYY-MM in fleet.yaml reports.destination: active users by day, cost by day and per "
    "active user, home storage growth, the decommission notice when one is open. Counts only, never names; "
    "days without data are said to be missing, never shown as 0.",
)
def community_reports(
    context: dg.AssetExecutionContext, fleet: FleetResource, storage: StorageResource, clock: ClockResource
) -> dg.MaterializeResult:
    from hub_ops.usage.community import gather, open_notice
    from hub_ops.usage.community_page import community_page, page_urls, reports_folder, write_page

    keys = context.partition_key.keys_by_dimension
    loaded, client, today = fleet.load(), storage.client(), clock.today()
    hub = loaded.hub(keys["hub"])
    month = dt.date.fromisoformat(keys["month"])
    record = decommission_records(context.instance).get(hub.id)
    recorded = (record.state, record.decommissioned_on, record.keep_backups_until) if record else ()
    data = gather(client, loaded, hub, month, today, open_notice(hub, today, *recorded))
    page = community_page(data, today)
    urls = page_urls(reports_folder(loaded.settings.reports.destination), hub.id, month)
    write_page(client, urls, page)
    figures = {
        "active_users": data.active_users,
        "days_observed": len(data.observed_days),
        "net_cost": data.month_cost,
        "cost_per_active_user": data.cost_per_active_user,
        "home_bytes": data.homes.total_bytes if data.homes else None,
    }
    metadata = {k: v for k, v in figures.items() if v is not None}  # unknown: absent, never 0
    if data.homes is not None:  # per user: the UI only, hashed unless usage.show_user_names
        largest = data.homes.largest(show_names=loaded.settings.usage.show_user_names)
        metadata["largest_homes"] = table(largest, ["user", "bytes", "files"])
    return dg.MaterializeResult(
        metadata=metadata
        | {
            "page": dg.MetadataValue.md(page.markdown()),
            "markdown": dg.MetadataValue.url(client.public_url(urls["md"])),
            "html": dg.MetadataValue.url(client.public_url(urls["html"])),
        }
    )
