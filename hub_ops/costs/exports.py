"""Writing cost reports where people find them: `<folder>/YYYY-MM.{csv,parquet,png}` for a
month, `<folder>/daily/YYYY-MM-DD.{csv,parquet}` for days. The folder is any fsspec URL
(production: `<reports destination>/cost-reports` on gs://). Writing a report again writes
the same files: safe to rerun."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from hub_ops.clients.storage import Storage
from hub_ops.costs.report import (
    CostReport,
    daily_chart_png,
    hub_summary,
    read_report,
    report_exists,
    with_usage,
    write_bytes,
    write_report,
)


def reports_folder(destination: str) -> str:
    """fleet.yaml reports.destination -> the folder of cost reports."""
    return destination.rstrip("/") + "/cost-reports"


def previous_month(month: dt.date) -> dt.date:
    return (month.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _info(report: CostReport, period: str) -> dict:
    return {
        "period": period,
        "source": report.usage.source,
        "sharing_policy": report.policy,
        "currency": report.currency,
        "export": report.export_totals(),
        "export_rows_read": report.usage.rows_read,
    }


@dataclass
class MonthlyExport:
    table: pd.DataFrame  # the month's lines (report columns)
    daily: pd.DataFrame  # the same per day
    summary: pd.DataFrame  # hub_summary, with the previous month when its report exists
    files: dict[str, str]  # csv, parquet, png -> URL
    png: bytes


def export_month(
    report: CostReport, storage: Storage, folder: str, usage: tuple[dict, dict] | None = None
) -> MonthlyExport:
    """Writes the month's CSV, Parquet and chart PNG; reads the previous month's Parquet from
    the same folder (when there) for the month-over-month change. With `usage` ({hub: monthly
    active users}, {hub: home bytes}) the table gains the columns of report.with_usage."""
    month = report.usage.start.replace(day=1)
    label = month.strftime("%Y-%m")
    table, daily = report.table("month"), report.table("date")
    if usage is not None:
        table = with_usage(table, *usage)
    files = write_report(table, storage, f"{folder}/{label}", _info(report, label))
    png = daily_chart_png(daily, f"Net cost per hub per day, {label} ({report.policy} sharing)")
    files["png"] = write_bytes(storage, f"{folder}/{label}.png", png)
    previous_url = f"{folder}/{previous_month(month):%Y-%m}.parquet"
    previous = read_report(storage, previous_url)[0] if report_exists(storage, previous_url) else None
    return MonthlyExport(table, daily, hub_summary(table, previous), files, png)


def export_days(report: CostReport, storage: Storage, folder: str) -> dict[str, dict[str, str]]:
    """Writes one CSV + Parquet per day of the report under `<folder>/daily/`."""
    table = report.table("date")
    written = {}
    for day in report.days():
        label = day.isoformat()
        part = table[table["date"] == label].reset_index(drop=True)
        info = _info(report, label) | {"export": report.export_totals(day)}
        written[label] = write_report(part, storage, f"{folder}/daily/{label}", info)
    return written


def per_user_history(storage: Storage, folder: str, table: pd.DataFrame, months: int = 12) -> pd.DataFrame:
    """Cost per active user by month (rows, oldest first) and hub (columns) over the last
    `months` months: this month's `table` and the earlier reports of `folder` that have the
    column. Hubs without a figure in a month are NA there."""
    month = dt.datetime.strptime(table["month"].iloc[0], "%Y-%m").date() if len(table) else None
    if month is None or "cost_per_active_user" not in table:
        return pd.DataFrame()
    frames, when = [table], month
    for _ in range(months - 1):
        when = previous_month(when)
        url = f"{folder}/{when:%Y-%m}.parquet"
        if report_exists(storage, url):
            earlier = read_report(storage, url)[0]
            if "cost_per_active_user" in earlier:
                frames.append(earlier)
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[(rows["hub"] != "") & rows["cost_per_active_user"].notna()]
    wide = (
        rows.assign(hub_id=rows["cluster"] + "/" + rows["hub"], value=rows["cost_per_active_user"].astype(float))
        .pivot_table(index="month", columns="hub_id", values="value", aggfunc="sum")
        .sort_index()
    )
    return wide


def per_user_chart_png(wide: pd.DataFrame, currency: str) -> bytes:
    from hub_ops import charts

    title = "Net cost per active user, last 12 months (hubs with the highest totals)"
    return charts.png(charts.lines_figure(wide, title, f"{currency} per active user", xlabel="month"))
