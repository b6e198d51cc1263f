"""The figures of one hub's community report for one month, gathered from what hub_ops
already records: the activity ledger (hub_usage), the daily and monthly cost reports
(hub_daily_costs, monthly_cost_report), the hub's backup snapshots (home storage) and the
hub's decommission date. Counts and distributions only: no user name leaves this module
except through `homes.largest()`, which callers show in the UI alone. Reads only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub_ops.backup.config import backup_destination
from hub_ops.backup.repository import Repository, snapshot_time
from hub_ops.clients.storage import Storage
from hub_ops.costs.exports import reports_folder
from hub_ops.costs.report import read_report, report_exists
from hub_ops.decommission.calendar import standing
from hub_ops.fleet import Fleet
from hub_ops.fleet.models import Hub
from hub_ops.usage.activity import DayActivity, UsageLedger, monthly_active_users
from hub_ops.usage.homes import TOP_LEVEL, HomeStorage, per_user_sizes
from hub_ops.usage.tables import ledger_folder

FOLDER = "community"


@dataclass(frozen=True)
class Notice:
    """A decommission the hub's community must hear about."""

    on: dt.date  # the planned date (cluster.yaml)
    days_left: int
    successor: str | None
    keep_backups_until: str
    state: str  # "notice" | "due" (from the config), or a recorded state ("decommissioned", ...)
    recorded_on: str = ""  # the day the recorded state was reached


def open_notice(
    hub: Hub, today: dt.date, recorded_state: str | None = None, recorded_on: str = "", keep_until: str = ""
) -> Notice | None:
    """The hub's notice when its notice window is open on `today`, or its recorded retirement
    (`recorded_*`: plain values of the decommission record); None otherwise."""
    when = standing(hub, today)
    if when is None or (recorded_state is None and when.phase == "scheduled"):
        return None
    keep = keep_until or when.keep_backups_until.isoformat()
    state = recorded_state or when.phase
    return Notice(when.on, when.days_left, hub.decommission.successor, keep, state, recorded_on)


@dataclass(frozen=True)
class StoragePoint:
    snapshot: str
    taken: dt.datetime
    bytes: int
    files: int


@dataclass
class CommunityMonth:
    hub: str  # cluster/hub
    month: dt.date  # its first day
    days: list[dt.date]  # the days reported: the month, up to `today` while it runs
    activity: dict[dt.date, DayActivity]  # days an observation recorded
    daily_cost: dict[dt.date, float]  # days whose daily cost report charges the hub
    month_cost: float | None  # the hub's net in the monthly report; None: no report, or no line of it
    currency: str
    storage: list[StoragePoint]  # the last snapshot before the month, then the month's
    homes: HomeStorage | None  # at the month's last snapshot; per user: for the UI only
    notice: Notice | None

    @property
    def observed_days(self) -> list[dt.date]:
        return [d for d in self.days if d in self.activity]

    @property
    def active_users(self) -> int | None:
        """Monthly active users over the observed days; None when no day was observed."""
        return monthly_active_users(self.activity[d] for d in self.observed_days) if self.observed_days else None

    @property
    def cost_per_active_user(self) -> float | None:
        if self.month_cost is None or not self.active_users:
            return None
        return round(self.month_cost / self.active_users, 2)

    def home_sizes(self) -> list[int]:
        """Bytes of each home at the month's last snapshot, smallest first (no names)."""
        if self.homes is None:
            return []
        return sorted(b for user, (b, _) in self.homes.per_user.items() if user != TOP_LEVEL)


def month_days(month: dt.date, today: dt.date) -> list[dt.date]:
    start = month.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return [start + dt.timedelta(days=i) for i in range((min(end, today + dt.timedelta(days=1)) - start).days)]


def gather(
    storage: Storage, fleet: Fleet, hub: Hub, month: dt.date, today: dt.date, notice: Notice | None
) -> CommunityMonth:
    """The hub's month from the ledger, the cost reports and its backups. Safe to rerun."""
    destination = fleet.settings.reports.destination
    days = month_days(month, today)
    if not days:
        raise ValueError(f"{month:%Y-%m} has not begun (today is {today}): nothing to report")
    ledger = UsageLedger(storage, ledger_folder(destination))
    recorded = (ledger.day(hub.id, d) for d in days)
    activity = {a.day: a for a in recorded if a is not None and (a.observations or a.users or a.servers)}
    daily_cost, month_cost, currency = _costs(storage, reports_folder(destination), hub, days)
    points, homes = _storage(storage, fleet, hub, days)
    return CommunityMonth(hub.id, days[0], days, activity, daily_cost, month_cost, currency, points, homes, notice)


def _hub_net(storage: Storage, url: str, hub: Hub) -> tuple[float | None, str]:
    """The hub's net (its own and shared lines) in a report; None when no line is charged to
    it (a hub the export does not cover: unknown, not free)."""
    frame, _ = read_report(storage, url)
    mine = frame[(frame["cluster"] == hub.cluster) & (frame["hub"] == hub.name)]
    currency = str(frame["currency"].iloc[0]) if len(frame) else ""
    return (round(float(mine["net_cost"].sum()), 2) if len(mine) else None), currency


def _costs(storage: Storage, folder: str, hub: Hub, days: list[dt.date]):
    daily, currency = {}, ""
    for day in days:
        url = f"{folder}/daily/{day.isoformat()}.parquet"
        if report_exists(storage, url):
            net, currency = _hub_net(storage, url, hub)
            if net is not None:
                daily[day] = net
    url = f"{folder}/{days[0]:%Y-%m}.parquet"
    month_cost = None
    if report_exists(storage, url):
        month_cost, currency = _hub_net(storage, url, hub)
    return daily, month_cost, currency


def _storage(storage: Storage, fleet: Fleet, hub: Hub, days: list[dt.date]):
    """Snapshots of the month (and the last one before it, for growth) and the homes at the
    month's last snapshot. A hub without home storage or backups has none."""
    if hub.home is None:
        return [], None
    repo = Repository.open(backup_destination(fleet, hub), storage)
    start = dt.datetime.combine(days[0], dt.time(), dt.UTC)
    end = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time(), dt.UTC)
    ids = repo.snapshot_ids(hub.id)
    before = [i for i in ids if snapshot_time(i) < start][-1:]
    chosen = before + [i for i in ids if start <= snapshot_time(i) < end]
    points = []
    for snapshot in chosen:
        summary = repo.summary(hub.id, snapshot)
        points.append(StoragePoint(snapshot, snapshot_time(snapshot), summary.bytes, summary.files))
    if not points or points[-1].taken < start:
        return points, None
    last = points[-1]
    with repo.local_manifest(hub.id, last.snapshot) as path:
        per_user = per_user_sizes(path)
    homes = HomeStorage(hub.id, last.snapshot, last.taken, last.bytes, last.files, per_user)
    return points, homes
