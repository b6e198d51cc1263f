"""Demo: a month of billing export for the example fleet, reported through Dagster.

Generates the last two complete months of a detailed export (the month before gives the
month-over-month column) where fleet.yaml's costs.billing points (gs://... maps under the
demo's data folder), materializes hub_daily_costs for the month (one run, a range of days)
and monthly_cost_report for both months on the SQLite instance in DAGSTER_HOME, then prints
the hubs table and where the CSV, Parquet and chart are.

Then one report across clouds: a copy of the fleet with an AWS and an Azure cluster
(hub_ops_dev.demo.clouds) whose costs.billing lists the same GCP export, a CUR 2.0 sample
(hub_ops_dev.sample_cur) and an Azure cost details sample (hub_ops_dev.sample_azure_costs),
reported by `hub-ops cost-report` as an operator runs it: one table with a provider column,
reconciled with the three exports' net total.
"""

from __future__ import annotations

import datetime as dt

from hub_ops_dev.demo import DemoContext

ROWS_PER_DAY = 1_000
CUR_ROWS_PER_DAY = 1_000
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
    return out + _every_cloud(ctx, storage, month)


def _every_cloud(ctx: DemoContext, storage, month: dt.date) -> list[str]:
    """GCP + AWS CUR 2.0 + Azure cost details in one report, through `hub-ops cost-report`."""
    import shutil

    from click.testing import CliRunner

    from hub_ops.cli import main
    from hub_ops.costs.report import read_report
    from hub_ops.fleet import load_fleet
    from hub_ops_dev.demo.clouds import AZURE_URL, CUR_URL, add_cloud_clusters, bill_every_cloud
    from hub_ops_dev.sample_azure_costs import day_table
    from hub_ops_dev.sample_azure_costs import write_export as write_azure
    from hub_ops_dev.sample_cur import CurGenerator
    from hub_ops_dev.sample_cur import write_export as write_cur

    root = ctx.scratch("every-cloud") / "fleet"
    shutil.copytree(ctx.fleet_root, root, dirs_exist_ok=True)
    add_cloud_clusters(root)
    bill_every_cloud(root)
    fleet = load_fleet(root)
    start, end = _month_range(month)
    days = (end - start).days
    rows = write_cur(CurGenerator(fleet, seed=2026).days(start, days, CUR_ROWS_PER_DAY), CUR_URL, storage)
    out = [f"\none report across clouds ({root}): fleet.yaml costs.billing = GCP export + CUR 2.0 + Azure cost details"]
    out.append(f"generated {rows:,} CUR 2.0 rows for {month:%Y-%m} at {CUR_URL}")
    tables = [day_table(fleet, start + dt.timedelta(days=i), "ea", seed=2026, currency="USD") for i in range(days)]
    write_azure(tables, AZURE_URL, storage)
    out.append(f"generated {sum(len(t) for t in tables):,} Azure cost details rows (EA, actual cost) at {AZURE_URL}")
    report_dir = ctx.scratch("every-cloud") / "reports"
    command = ["--fleet", str(root), "cost-report", "--month", f"{month:%Y-%m}", "--out", str(report_dir)]
    result = CliRunner().invoke(main, command)
    out.append("$ hub-ops " + " ".join(command))
    out += ["  " + line for line in result.output.splitlines() if line.startswith(("reconciled", "the report"))]
    if result.exit_code != 0:
        raise RuntimeError(f"hub-ops cost-report failed ({result.exit_code}):\n{result.output}")
    table, _ = read_report(storage, str(report_dir / f"{month:%Y-%m}.parquet"))
    by_provider = table.groupby("provider")["net_cost"].sum()
    out.append(
        "net cost by provider: "
        + ", ".join(f"{p} {v:,.2f}" for p, v in by_provider.items())
        + f" = {table['net_cost'].sum():,.2f} {table['currency'].iloc[0]}"
    )
    hubs = table[table["hub"] != ""].groupby(["provider", "cluster", "hub"])["net_cost"].sum()
    out.append("hubs of the aws and azure clusters (direct cost plus their shares):")
    for (provider, cluster, hub), value in hubs.items():
        if provider != "gcp":
            out.append(f"  {provider:6} {cluster}/{hub:10} {value:12,.2f}")
    return out
