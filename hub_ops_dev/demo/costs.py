"""Demo: a month of billing export for the example fleet, reported through Dagster.

Generates the last two complete months of a detailed export (the month before gives the
month-over-month column) where fleet.yaml's costs.billing points (gs://... maps under the
demo's data folder), materializes hub_daily_costs for the month (one run, a range of days)
and monthly_cost_report for both months on the SQLite instance in DAGSTER_HOME, then prints
the hubs table and where the CSV, Parquet and chart are.
"""

from __future__ import annotations

import datetime as dt

from hub_ops_dev.demo import DemoContext

ROWS_PER_DAY = 1_000
# the runs' own event logs are in the instance (dagster dev shows them); keep the terminal for the summary
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _month_range(month: dt.date) -> tuple[dt.date, dt.date]:
    end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return month, end


def run(ctx: DemoContext) -> list[str]:
    import dagster as dg

    from hub_ops.clients.storage import Storage
    from hub_ops.costs.exports import previous_month, reports_folder
    from hub_ops.costs.report import read_report
    from hub_ops.definitions import defs
    from hub_ops.defs.costs.assets import monthly_cost_report
    from hub_ops.fleet import load_fleet
    from hub_ops_dev.demo.text import table_lines
    from hub_ops_dev.sample_billing import ExportGenerator, write_parquet

    fleet = load_fleet(ctx.fleet_root)
    storage = Storage(local_root=str(ctx.data))
    month = previous_month(dt.date.today())
    months = [previous_month(month), month]
    generator = ExportGenerator(fleet, seed=2026)
    export_url = fleet.settings.costs.billing[0].files.rstrip("/")
    out = []
    for m in months:
        start, end = _month_range(m)
        fs, path = storage.filesystem(f"{export_url}/{m:%Y-%m}.parquet")
        fs.makedirs(fs._parent(path), exist_ok=True)
        with fs.open(path, "wb") as sink:
            rows = write_parquet(generator.days(start, (end - start).days, ROWS_PER_DAY), sink)
        out.append(f"generated {rows:,} export rows for {m:%Y-%m} at {export_url}/{m:%Y-%m}.parquet -> {path}")

    instance = dg.DagsterInstance.get()  # SQLite under DAGSTER_HOME (set by the demo runner)
    start, end = _month_range(month)
    # the named jobs the cost schedules launch, not ephemeral ones
    daily = (
        defs()
        .resolve_job_def("hub_daily_costs_job")
        .execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={
                "dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": (end - dt.timedelta(days=1)).isoformat(),
            },
        )
    )
    checks = daily.get_asset_check_evaluations()
    out.append(
        f"hub_daily_costs {start} .. {end - dt.timedelta(days=1)}: one run, "
        f"{len(daily.get_asset_materialization_events())} daily partitions, reconciliation "
        f"{'passed' if checks and all(c.passed for c in checks) else 'FAILED'}"
    )
    for m in months:
        result = (
            defs()
            .resolve_job_def("monthly_cost_report_job")
            .execute_in_process(instance=instance, run_config=QUIET, partition_key=m.isoformat())
        )
        passed = all(c.passed for c in result.get_asset_check_evaluations())
        out.append(f"monthly_cost_report {m:%Y-%m}: reconciliation {'passed' if passed else 'FAILED'}")
        if not passed:
            raise RuntimeError(f"monthly_cost_report {m:%Y-%m} does not reconcile")

    event = instance.get_latest_materialization_event(monthly_cost_report.key)
    metadata = event.asset_materialization.metadata
    out.append(
        f"\nhubs by net cost, {month:%Y-%m} ({metadata['sharing_policy'].value} sharing, "
        f"{metadata['currency'].value}; net total {metadata['net_total'].value:,.2f}):"
    )
    out += ["  " + line for line in table_lines(metadata["hubs"].value)]
    folder = reports_folder(fleet.settings.reports.destination)
    table, _ = read_report(storage, f"{folder}/{month:%Y-%m}.parquet")
    out.append(f"\n{len(table)} report lines; net_cost sums to {table['net_cost'].sum():,.2f}")
    for fmt in ("csv", "parquet", "png"):
        out.append(f"{fmt:8} {storage.resolve(f'{folder}/{month:%Y-%m}.{fmt}').removeprefix('file://')}")
    ctx.facts["cost_report"] = storage.resolve(f"{folder}/{month:%Y-%m}.parquet")
    return out
