"""The usage tables as rows, from the library's records: what the assets and the CLI show."""

from __future__ import annotations

import datetime as dt

from hub_ops.backup.repository import Repository
from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.storage import Storage
from hub_ops.usage.activity import UsageLedger, daily_row, monthly_active_users, record_hub
from hub_ops.usage.homes import home_storage

MONTH_COLUMNS = ["hub", "month", "monthly_active_users", "days_observed", "max_daily_active", "peak_servers"]
DAILY_COLUMNS = ["hub", "date", "active_users", "servers_started", "peak_servers", "observations", "status"]
STORAGE_COLUMNS = [
    "hub",
    "snapshot",
    "taken",
    "home_bytes",
    "home_files",
    "homes",
    "median_home_bytes",
    "growth_since_previous",
    "growth_30_days",
]


def ledger_folder(reports_destination: str) -> str:
    """Where the activity ledger lives: beside the reports (it holds hashes, never names)."""
    return reports_destination.rstrip("/") + "/usage/activity"


def usage_day(
    ledger: UsageLedger, hubs: dict[str, HubApi | None | str], day: dt.date, now: dt.datetime | None = None
) -> list[dict]:
    """One row per hub for `day`. Hubs map to their API (asked now when `day` is today or
    yesterday, the days an observation can still add to), or to why they cannot be asked."""
    now = now or dt.datetime.now(dt.UTC)
    rows = []
    for hub_id, api in hubs.items():
        error = api if isinstance(api, str) else None
        if error is None and 0 <= (now.date() - day).days <= 1:
            _, error = record_hub(api, hub_id, ledger, at=now)
        rows.append(daily_row(ledger.day(hub_id, day), hub_id, day, error))
    return rows


def storage_rows(storage: Storage, destinations: dict[str, str], show_names: bool) -> tuple[list[dict], list[dict]]:
    """(one summary row per hub, the 10 largest homes of each hub) from the latest manifests.
    A hub without a snapshot, or whose destination cannot be read, says so in `snapshot`."""
    summaries, largest = [], []
    for hub_id, url in destinations.items():
        try:
            found = home_storage(Repository.open(url, storage), hub_id)
        except Exception as e:  # one unreadable destination never hides the other hubs
            summaries.append({"hub": hub_id, "snapshot": f"unreadable: {type(e).__name__}: {e}"})
            continue
        if found is None:
            summaries.append({"hub": hub_id, "snapshot": "no snapshot yet"})
            continue
        summaries.append(found.summary_row())
        largest += [
            {"hub": hub_id, "rank": i + 1} | home for i, home in enumerate(found.largest(show_names=show_names))
        ]
    return [{c: row.get(c) for c in STORAGE_COLUMNS} for row in summaries], largest


def month_rows(ledger: UsageLedger, hub_ids: list[str], month: dt.date) -> list[dict]:
    """One row per hub for the month: MAU (active at least once), days observed, the
    busiest day's active users, the highest peak of concurrent servers. A hub never observed
    in the month has empty figures, not zeros."""
    rows = []
    for hub_id in hub_ids:
        days = ledger.month(hub_id, month)
        rows.append(
            {
                "hub": hub_id,
                "month": month.strftime("%Y-%m"),
                "monthly_active_users": monthly_active_users(days) if days else None,
                "days_observed": sum(1 for d in days if d.observations),
                "max_daily_active": max((len(d.users) for d in days), default=None),
                "peak_servers": max((d.peak_servers for d in days if d.observations), default=None),
            }
        )
    return rows


def usage_by_hub(storage: Storage, fleet, month: dt.date) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """({hub: monthly active users}, {hub: home bytes at its latest snapshot}) for the cost
    report's usage columns; None where unknown (never observed, no snapshot, unreadable)."""
    from hub_ops.backup.config import backup_destination

    hub_ids = [h.id for h in fleet.hubs()]
    ledger = UsageLedger(storage, ledger_folder(fleet.settings.reports.destination))
    active = {r["hub"]: r["monthly_active_users"] for r in month_rows(ledger, hub_ids, month)}
    destinations = {h.id: backup_destination(fleet, h) for h in fleet.hubs()}
    summaries, _ = storage_rows(storage, destinations, show_names=False)
    return active, {r["hub"]: r["home_bytes"] for r in summaries}
