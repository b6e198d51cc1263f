"""The notice report: what a decommission will do, written before it does it.

`notice_report` assembles it from facts the caller gathered (the hub's last snapshot, its
active users, its cost), so the wording lives here and the Dagster job only asks.
"""

from __future__ import annotations

import calendar
import csv
import io
from dataclasses import dataclass, field

from hub_ops.backup.config import local_home
from hub_ops.backup.manifest import SnapshotSummary
from hub_ops.clients.storage import Storage
from hub_ops.decommission.calendar import Standing
from hub_ops.deploy.releases import hub_release
from hub_ops.fleet import Fleet
from hub_ops.fleet.models import Hub


@dataclass
class NoticeReport:
    hub: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (what, detail)

    def add(self, what: str, detail: str) -> None:
        self.lines.append((what, detail))

    def rows(self) -> list[dict[str, str]]:
        """One {what, detail} row per line, for a table."""
        return [{"what": w, "detail": d} for w, d in self.lines]


def when_text(days_left: int) -> str:
    if days_left > 0:
        return f"in {days_left} day{'s' if days_left != 1 else ''}"
    return "today" if days_left == 0 else f"due since {-days_left} day{'s' if days_left != -1 else ''}"


def cost_per_day(storage: Storage, reports_destination: str, cluster: str, hub: str) -> str:
    """The hub's net cost per day in the latest monthly cost report (its own and shared
    lines), or why there is none."""
    fs, root = storage.filesystem(reports_destination.rstrip("/") + "/cost-reports")
    try:
        months = sorted(p for p in fs.ls(root, detail=False) if p.endswith(".csv"))
    except FileNotFoundError:
        return "no cost report yet"
    if not months:
        return "no cost report yet"
    latest = months[-1]
    month = latest.rsplit("/", 1)[-1].removesuffix(".csv")
    total, currency = 0.0, ""
    with fs.open(latest, "rb") as f:
        for row in csv.DictReader(io.TextIOWrapper(f, encoding="utf-8")):
            if row.get("cluster") == cluster and row.get("hub") == hub:
                total += float(row.get("net_cost") or 0)
                currency = row.get("currency") or currency
    year, mon = (int(x) for x in month.split("-"))
    days = calendar.monthrange(year, mon)[1]
    return f"{total / days:,.2f} {currency or ''} a day ({total:,.2f} in {month})".replace("  ", " ")


def notice_report(
    fleet: Fleet,
    hub: Hub,
    when: Standing,
    *,
    destination: str,
    successor: str | None,
    last_snapshot: SnapshotSummary | None,
    active_users: str,
    cost: str,
    leftovers: str,
) -> NoticeReport:
    """What retiring `hub` will do, step by step, and who it affects."""
    report = NoticeReport(hub.id)
    report.add("retired on", f"{when.on} ({when_text(when.days_left)}; notice from {when.notice_from})")
    if last_snapshot is None:
        snapshot = "; no snapshot yet"
    else:
        snapshot = f"; last snapshot {last_snapshot.id}: {last_snapshot.files} files, {last_snapshot.bytes:,} bytes"
    report.add("final backup", f"homes at {home_description(fleet, hub)} -> {destination}{snapshot}")
    report.add("then", "deep verification of every blob; the run stops before anything is deleted if it fails")
    report.add(
        "homes migrated into",
        f"{successor} (users' folders as in the final backup; existing different files stop the run)"
        if successor
        else "no successor: homes are only kept in backups",
    )
    release = hub_release(fleet, hub)
    report.add("helm release uninstalled", f"{release.name} in namespace {release.namespace} of {hub.cluster}")
    report.add("namespace deleted", f"{release.namespace}, with what it holds (home PVCs included)")
    report.add("backups kept until", f"{when.keep_backups_until}, then expired")
    report.add("active users, last 30 days", active_users)
    report.add("cost", cost)
    if leftovers:
        report.add("left on the cluster", leftovers)
    return report


def retired_report(
    hub_id: str, on: str, *, successor: str, final_snapshot: str, destination: str, keep_backups_until: str
) -> NoticeReport:
    """The notice once the hub is retired: what was done, in the past tense (the notice
    written before the date said "in N days")."""
    report = NoticeReport(hub_id)
    report.add("retired on", on)
    report.add("final backup", f"{final_snapshot or 'none'} in {destination}")
    report.add("homes migrated into", successor or "no successor: homes are only kept in backups")
    report.add("backups kept until", f"{keep_backups_until}, then expired")
    return report


def home_description(fleet: Fleet, hub: Hub) -> str:
    """Where the hub's homes are, for a person."""
    home = hub.home
    if home is None:
        return "(no home configured)"
    local = local_home(fleet, hub)
    if local is not None:
        return str(local)
    where = f"PVC {home.pvc}" if home.pvc else f"NFS {home.nfs.server}:{home.nfs.path}"
    return f"{where}{' /' + home.sub_path if home.sub_path else ''} (namespace {hub.effective_namespace})"


def cluster_leftovers(fleet: Fleet, hub: Hub, retired: set[str], observed_pools: list[str]) -> str:
    """When `hub` is its cluster's last hub in service: what stays for a person to remove
    ("" otherwise). `observed_pools`: the pools the cluster was last seen with."""
    others = [h.id for h in fleet.clusters[hub.cluster].hubs if h.id != hub.id and h.id not in retired]
    if others:
        return ""
    cluster = fleet.clusters[hub.cluster]
    items = []
    if cluster.support:
        items.append(f"support release in namespace {cluster.support.namespace}")
    pools = observed_pools or cluster.node_pools
    if pools:
        items.append("node pools " + ", ".join(pools))
    return f"last hub of {cluster.name}: remove by hand " + "; ".join(items or ["the cluster itself"])
