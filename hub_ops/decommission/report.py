"""The notice report: what a decommission will do, written before it does it."""

from __future__ import annotations

import calendar
import csv
import io
from dataclasses import dataclass, field

from hub_ops.clients.storage import Storage


@dataclass
class NoticeReport:
    hub: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (what, detail)

    def add(self, what: str, detail: str) -> None:
        self.lines.append((what, detail))

    def markdown(self) -> str:
        rows = "\n".join(f"| {w} | {d.replace('|', '/')} |" for w, d in self.lines)
        return f"| | |\n|---|---|\n{rows}"


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
