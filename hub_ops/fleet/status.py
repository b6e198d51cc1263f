"""The fleet at a glance: one row per hub from what the other assets recorded, failing rows
first, and a summary line an on-call operator reads first.

Plain data in, plain rows out (no Dagster): hub_ops.defs.fleet.status gathers the facts
through each domain's typed reader and turns the rows into a table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

MAX_BACKUP_AGE = dt.timedelta(hours=26)  # a nightly schedule plus two hours of slack (the `fresh` check's)
FAILING, OK, RETIRED = "failing", "ok", "retired"
ORDER = {FAILING: 0, OK: 1, RETIRED: 2}
COLUMNS = [
    "hub",
    "state",
    "problems",
    "cluster",
    "provider",
    "tier",
    "chart version",
    "git sha",
    "deployed (UTC)",
    "sync",
    "last snapshot",
    "snapshot age (h)",
    "snapshot bytes",
    "verified",
    "net cost 30 d",
    "trend vs previous 30 d (%)",
    "open alerts",
    "decommission on",
    "decommission state",
]


@dataclass(frozen=True)
class Release:
    chart_version: str
    git_sha: str
    deployed_at: dt.datetime


@dataclass(frozen=True)
class Backup:
    snapshot_id: str
    taken_at: dt.datetime
    bytes: int
    verified: bool | None  # None: not recorded


@dataclass(frozen=True)
class HubFacts:
    """What the fleet's assets recorded about one hub (None: nothing recorded)."""

    hub: str  # cluster/hub
    cluster: str
    provider: str
    tier: str
    backups_expected: bool
    release: Release | None = None
    sync: str | None = None  # "in sync", "DRIFT", "not checked"; None: never checked
    sync_detail: str = ""
    backup: Backup | None = None
    net_cost_30d: float | None = None
    net_cost_previous_30d: float | None = None
    open_alerts: int = 0
    decommission_on: dt.date | None = None
    decommission_state: str = ""  # the record's state, or "" when no run has begun
    retired: bool = False


@dataclass
class FleetStatus:
    rows: list[dict] = field(default_factory=list)
    without_backup: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    alerting: list[str] = field(default_factory=list)

    @property
    def failing(self) -> list[str]:
        return [r["hub"] for r in self.rows if r["state"] == FAILING]

    def summary(self) -> str:
        """ "3 hubs without a backup in 26 h, 1 drifted; 11 of 14 hubs ok" (counts of failing kinds,
        then how many of the hubs are fine)."""
        parts = [
            _count(self.without_backup, "without a backup in 26 h"),
            _count(self.unverified, "whose last snapshot failed verification"),
            _count(self.drifted, "drifted", noun=False),
            _count(self.alerting, "with open alerts"),
        ]
        live = [r for r in self.rows if r["state"] != RETIRED]
        ok = sum(r["state"] == OK for r in live)
        head = ", ".join(p for p in parts if p) or "nothing failing"
        return f"{head}; {ok} of {len(live)} hubs ok" + (
            f" ({len(self.rows) - len(live)} retired)" if len(live) < len(self.rows) else ""
        )


def _count(hubs: list[str], what: str, noun: bool = True) -> str:
    if not hubs:
        return ""
    return f"{len(hubs)} hub{'s' * (len(hubs) != 1)} {what}" if noun else f"{len(hubs)} {what}"


def _trend(now: float | None, before: float | None) -> float | None:
    if now is None or not before:
        return None
    return round((now - before) / abs(before) * 100, 1)


def fleet_status(facts: list[HubFacts], now: dt.datetime) -> FleetStatus:
    """One row per hub (COLUMNS), failing first, then ok, then retired; within each, by hub id."""
    status = FleetStatus()
    for f in facts:
        problems = []
        age = (now - f.backup.taken_at) if f.backup else None
        if f.backups_expected and not f.retired and (age is None or age > MAX_BACKUP_AGE):
            status.without_backup.append(f.hub)
            problems.append("no snapshot" if age is None else f"last snapshot {age.total_seconds() / 3600:.0f} h old")
        if f.backup and f.backup.verified is False and not f.retired:
            status.unverified.append(f.hub)
            problems.append(f"snapshot {f.backup.snapshot_id} failed verification")
        if f.sync == "DRIFT" and not f.retired:
            status.drifted.append(f.hub)
            problems.append("drifted: " + (f.sync_detail or "live release differs"))
        if f.open_alerts:
            status.alerting.append(f.hub)
            problems.append(f"{f.open_alerts} open alert(s)")
        state = RETIRED if f.retired else FAILING if problems else OK
        status.rows.append(
            {
                "hub": f.hub,
                "state": state,
                "problems": "; ".join(problems),
                "cluster": f.cluster,
                "provider": f.provider,
                "tier": f.tier,
                "chart version": f.release.chart_version if f.release else "",
                "git sha": f.release.git_sha[:12] if f.release else "",
                "deployed (UTC)": f"{f.release.deployed_at:%Y-%m-%d %H:%M}" if f.release else "not deployed by hub_ops",
                "sync": f.sync or ("not checked" if f.release else ""),
                "last snapshot": f.backup.snapshot_id if f.backup else "",
                "snapshot age (h)": round(age.total_seconds() / 3600, 1) if age is not None else None,
                "snapshot bytes": f.backup.bytes if f.backup else None,
                "verified": f.backup.verified if f.backup else None,
                "net cost 30 d": None if f.net_cost_30d is None else round(f.net_cost_30d, 2),
                "trend vs previous 30 d (%)": _trend(f.net_cost_30d, f.net_cost_previous_30d),
                "open alerts": f.open_alerts,
                "decommission on": f.decommission_on.isoformat() if f.decommission_on else "",
                "decommission state": f.decommission_state
                or (("due" if f.decommission_on <= now.date() else "scheduled") if f.decommission_on else ""),
            }
        )
    status.rows.sort(key=lambda r: (ORDER[r["state"]], r["hub"]))
    return status
