"""Cost assets: `hub_daily_costs` (a day, or a range of days in one run) and
`monthly_cost_report` (a month, exported as CSV, Parquet and a chart)."""

import datetime as dt
import warnings
from typing import TYPE_CHECKING

import dagster as dg

from hub_ops.defs.costs.checks import check_spec, reconciliation_result
from hub_ops.defs.costs.resources import BillingResource
from hub_ops.defs.shared.metadata import latest_materialization_metadata, table
from hub_ops.defs.shared.resources import FleetResource, StorageResource
from hub_ops.defs.shared.schedules import fleet_settings_at_load, today_at_load
from hub_ops.fleet.models import partition_start

if TYPE_CHECKING:
    from hub_ops.costs.report import CostReport

# hub_ops.costs, hub_ops.charts and hub_ops.usage.tables (pandas, pyarrow) are imported by the
# steps that use them, not by every load of the definitions

# chosen knowingly: a range of days is read from the export once, in one run (beta in Dagster 1.13)
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy` of function `asset`", category=dg.BetaWarning)

# fleet.yaml costs.start_date (default: the first of last month): "missing" means missing
FIRST_DAY = partition_start(fleet_settings_at_load().costs.start_date, today_at_load())
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY.isoformat(), timezone="UTC")
monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_DAY.replace(day=1).isoformat(), timezone="UTC")

# BigQuery and GCS fail transiently (rate limits, 5xx): retry the whole partition, it is idempotent
RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
KINDS = {"bigquery", "gcs", "pandas"}

# The monthly report's usage columns read the usage ledger (hub_usage, the month's days) and the
# latest backup manifests (home bytes, whichever night): lineage edges, never a wait for those runs.
USAGE_DAYS = dg.AssetDep(
    dg.AssetKey("hub_usage"),
    partition_mapping=dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True),
)
LATEST_BACKUPS = dg.AssetDep(dg.AssetKey("user_home_backups"), partition_mapping=dg.AllPartitionMapping())


def _window(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), window.end.date()


def _progress(context: dg.AssetExecutionContext):
    last = {"step": -1}

    def log(done: int, total: int, where: str) -> None:
        step = done * 10 // max(total, 1)
        if step != last["step"]:
            last["step"] = step
            context.log.info(f"read {done}/{total} of {where}")

    return log


def _hub_table(summary) -> dg.MetadataValue:
    """hub_summary as a native table; without a previous period, no previous/change columns."""
    shown = summary.reset_index()
    if summary["previous"].isna().all():
        shown = shown.drop(columns=["previous", "change"])
    return table(shown)


def _load(context, fleet: FleetResource, storage: StorageResource, billing: BillingResource):
    loaded = fleet.load()
    client = storage.client()
    source = billing.source(loaded, client)
    start, end = _window(context)
    context.log.info(f"reading {source.description} for {start} .. {end - dt.timedelta(days=1)}")
    usage = source.aggregate(start, end, _progress(context))
    from hub_ops.costs.exports import reports_folder
    from hub_ops.costs.report import CostReport

    report = CostReport.build(usage, loaded)
    return source, client, report, reports_folder(loaded.settings.reports.destination)


def _independent_net(context, source, report: "CostReport"):
    context.log.info(f"re-reading {source.description} independently for the reconciliation check")
    return source.independent_net(report.usage.start, report.usage.end)


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds=KINDS,
    group_name="costs",
    retry_policy=RETRY,
    check_specs=[check_spec("hub_daily_costs")],
    description="Cost per hub, shared line and unknown line, per day, from the billing export; "
    "one CSV + Parquet per day under cost-reports/daily/ of fleet.yaml's reports destination. "
    "Each day's metadata holds that day's figures, also when a range of days runs at once.",
)
def hub_daily_costs(
    context: dg.AssetExecutionContext, fleet: FleetResource, storage: StorageResource, billing: BillingResource
) -> dg.MaterializeResult:
    from hub_ops.costs.crosscheck import compare_days
    from hub_ops.costs.exports import export_days
    from hub_ops.costs.report import hub_summary, read_report

    source, client, report, folder = _load(context, fleet, storage, billing)
    written = export_days(report, client, folder)
    # what was written, read back, must add up to the export re-read another way, day by day
    read_back = {day: {fmt: read_report(client, url)[0] for fmt, url in urls.items()} for day, urls in written.items()}
    check = compare_days(
        read_back, _independent_net(context, source, report), report.currency, report.export_net_nanos_by_day()
    )
    by_day = report.table("date")
    for day, urls in written.items():
        # a range of days runs at once: each day's materialization gets that day's figures
        totals = report.export_totals(dt.date.fromisoformat(day))
        context.add_asset_metadata(
            {
                "hubs": _hub_table(hub_summary(by_day[by_day["date"] == day])),
                "net_total": dg.MetadataValue.float(totals["net_cost"]),
                "export_rows": totals["rows"],
                "csv": dg.MetadataValue.url(client.public_url(urls["csv"])),
                "parquet": dg.MetadataValue.url(client.public_url(urls["parquet"])),
            },
            partition_key=day,
        )
    return dg.MaterializeResult(
        metadata={
            "currency": report.currency,
            "sharing_policy": report.policy,
            "days_in_run": len(written),
            "source": report.usage.source,
        },
        check_results=[reconciliation_result(check)],
    )


@dg.asset(
    deps=[USAGE_DAYS, LATEST_BACKUPS],
    partitions_def=monthly_partitions,
    kinds=KINDS,
    group_name="costs",
    retry_policy=RETRY,
    check_specs=[check_spec("monthly_cost_report")],
    description="The month's cost report (one line per cluster/hub/shared line; sharing per fleet.yaml "
    "costs.sharing), exported to cost-reports/YYYY-MM.{csv,parquet,png} of fleet.yaml's reports destination. "
    "Reads the whole month from the export, so rows that arrived late are included.",
)
def monthly_cost_report(
    context: dg.AssetExecutionContext, fleet: FleetResource, storage: StorageResource, billing: BillingResource
) -> dg.MaterializeResult:
    from hub_ops.charts import png_markdown
    from hub_ops.costs.crosscheck import compare_month
    from hub_ops.costs.exports import export_month, per_user_chart_png, per_user_history
    from hub_ops.costs.report import read_report
    from hub_ops.usage.tables import usage_by_hub

    source, client, report, folder = _load(context, fleet, storage, billing)
    usage = usage_by_hub(client, fleet.load(), report.usage.start)
    export = export_month(report, client, folder, usage)
    history = per_user_history(client, folder, export.table)
    month = report.usage.start.strftime("%Y-%m")
    read_back = {fmt: read_report(client, export.files[fmt])[0] for fmt in ("csv", "parquet")}
    check = compare_month(
        month, read_back, _independent_net(context, source, report), report.currency, report.export_net_nanos
    )
    totals = report.export_totals()
    unknown = export.table[export.table["line"].str.startswith("unknown-")]
    return dg.MaterializeResult(
        metadata={
            "hubs": _hub_table(export.summary),
            "chart": dg.MetadataValue.md(png_markdown(export.png, f"net cost per hub per day, {month}")),
            "net_total": dg.MetadataValue.float(totals["net_cost"]),
            "currency": report.currency,
            "sharing_policy": report.policy,
            "lines": len(export.table),
            "unknown_lines": table(unknown[["cluster", "line", "namespace", "project", "net_cost"]]),
            "export_rows": totals["rows"],
            "source": report.usage.source,
            "csv": dg.MetadataValue.url(client.public_url(export.files["csv"])),
            "parquet": dg.MetadataValue.url(client.public_url(export.files["parquet"])),
            "chart_png": dg.MetadataValue.url(client.public_url(export.files["png"])),
            "cost_per_active_user_chart": dg.MetadataValue.md(
                png_markdown(per_user_chart_png(history, report.currency), "net cost per active user, 12 months")
                if len(history.columns)
                else "no hub with active users recorded in the last 12 months"
            ),
        },
        check_results=[reconciliation_result(check)],
    )


def hub_net_by_day(instance: dg.DagsterInstance, days: list[str]) -> dict[str, dict[str, float]]:
    """{day: {hub id (cluster/hub): net cost}} from each day's latest hub_daily_costs
    materialization (its `hubs` table); days never materialized are absent."""
    out: dict[str, dict[str, float]] = {}
    for day in days:
        meta = latest_materialization_metadata(instance, hub_daily_costs.key, day)
        hubs = (meta or {}).get("hubs")
        if isinstance(hubs, dg.TableMetadataValue):  # earlier runs wrote markdown: not read
            out[day] = {r.data["hub"]: float(r.data.get("net") or 0.0) for r in hubs.records}
    return out
