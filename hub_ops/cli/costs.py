"""hub-ops cost-report: a month's cost report from the billing export, for terminal users."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from hub_ops.costs.attribution import POLICIES


def _month(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month as YYYY-MM") from None


class _Bar:
    """A rich progress bar on a terminal; silent otherwise (logs and pipes stay clean)."""

    def __init__(self):
        self.progress = None
        if sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeRemainingColumn(),
                transient=True,
            )
            self.task = self.progress.add_task("reading the export", total=None)

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def __call__(self, done: int, total: int, where: str) -> None:
        if self.progress:
            self.progress.update(self.task, completed=done, total=total, description=f"reading {Path(where).name}")


@click.command("cost-report")
@click.option("--month", required=True, help="The month to report, YYYY-MM.")
@click.option(
    "--export",
    "export_url",
    help="Billing export files (a file or folder URL): the GCP detailed export (Parquet, CSV, newline JSON), "
    "an AWS CUR 2.0 export (Parquet), Azure cost details (CSV or Parquet) or FOCUS 1.0-1.2 files. "
    "Default: every source of fleet.yaml costs.billing.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["gcp", "aws-cur", "focus", "azure"]),
    help="The kind of --export (default: told by its columns).",
)
@click.option(
    "--out", "out_dir", default=".", show_default=True, help="Folder (or URL) for YYYY-MM.csv, .parquet, .png."
)
@click.option("--sharing", type=click.Choice(POLICIES), help="Override fleet.yaml costs.sharing.")
@click.pass_context
def cost_report(
    ctx: click.Context, month: str, export_url: str | None, fmt: str | None, out_dir: str, sharing: str | None
) -> None:
    """Cost per cluster, hub and shared line for a month; writes YYYY-MM.csv and .parquet into --out.

    With usage recorded for the month (hub_usage's activity ledger, backups of the homes), the
    report gains the columns active_users, cost_per_active_user and home_bytes, as the
    monthly_cost_report asset writes them; without any, it says so and leaves them out.

    The written files are checked against the export's net total (cost + credits) for the
    month, re-read independently of the report (hub_ops.costs.crosscheck); the command prints
    the comparison and exits 1 when they differ by more than rounding.
    """
    from hub_ops.clients.billing import billing_source
    from hub_ops.costs import BillingExportError, CostReport
    from hub_ops.costs.crosscheck import compare_month
    from hub_ops.costs.exports import export_month
    from hub_ops.costs.report import read_report, summary_markdown
    from hub_ops.fleet import FleetConfigError, load_fleet
    from hub_ops.usage.tables import usage_by_hub

    start = _month(month)
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    from hub_ops.clients.storage import storage_from_env

    storage = storage_from_env()
    try:
        fleet = load_fleet(ctx.obj["fleet_root"])
        source = billing_source(fleet, storage, files=export_url, fmt=fmt)
        with _Bar() as bar:
            usage = source.aggregate(start, end, bar)
        report = CostReport.build(usage, fleet, sharing)
        try:
            active, home_bytes = usage_by_hub(storage, fleet, start)
        except Exception as e:  # the cost report stands without usage: say why it has none
            click.echo(f"warning: usage data not readable ({type(e).__name__}: {e})", err=True)
            active, home_bytes = {}, {}
        known = any(v is not None for v in [*active.values(), *home_bytes.values()])
        if "://" not in out_dir:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            out_dir = str(Path(out_dir).resolve())
        export = export_month(report, storage, out_dir.rstrip("/"), (active, home_bytes) if known else None)
    except (FleetConfigError, BillingExportError) as e:
        raise click.ClickException(str(e)) from None
    totals = report.export_totals()
    click.echo(f"{source.description}: {totals['rows']:,} rows for {month}, {report.policy} sharing, {report.currency}")
    if not totals["rows"]:
        click.echo(f"warning: the export has no rows for {month}: wrong --export, or not exported yet?", err=True)
    click.echo(summary_markdown(export.summary))
    if known:
        users, homes = (sum(v is not None for v in d.values()) for d in (active, home_bytes))
        click.echo(f"usage columns: active users of {users} hubs, home bytes of {homes} hubs (empty where unknown)")
    else:
        click.echo(
            f"no usage data for {month} (no activity recorded by hub_usage, no backup snapshot): "
            "the report has no active_users, cost_per_active_user, home_bytes columns"
        )
    for fmt in ("csv", "parquet", "png"):
        click.echo(f"wrote {storage.resolve(export.files[fmt]).removeprefix('file://')}")
    # the written files against the export's net re-read independently of the report's reader
    read_back = {fmt: read_report(storage, export.files[fmt])[0] for fmt in ("csv", "parquet")}
    try:
        net = source.independent_net(start, end)
    except BillingExportError as e:
        raise click.ClickException(str(e)) from None
    check = compare_month(month, read_back, net, report.currency, report.export_net_nanos)
    click.echo(check.markdown())
    if not check.ok:
        click.echo(f"the report does not reconcile with the export for {month}", err=True)
        sys.exit(1)
    click.echo(f"reconciled: the written files equal the export's net total for {month}")
