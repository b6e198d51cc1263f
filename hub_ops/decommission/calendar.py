"""Where a hub stands against its `decommission:` block on a given day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub_ops.fleet.models import Hub


@dataclass(frozen=True)
class Standing:
    hub: str  # cluster/hub
    on: dt.date
    phase: str  # "scheduled" (before the notice) | "notice" | "due"
    days_left: int  # until `on`; 0 or negative when due
    notice_from: dt.date
    keep_backups_until: dt.date


def standing(hub: Hub, today: dt.date) -> Standing | None:
    """None when the hub has no decommission date."""
    d = hub.decommission
    if d is None:
        return None
    notice_from = d.on - dt.timedelta(days=d.notice_days)
    phase = "due" if today >= d.on else "notice" if today >= notice_from else "scheduled"
    return Standing(
        hub.id, d.on, phase, (d.on - today).days, notice_from, d.on + dt.timedelta(days=d.keep_backups_days)
    )
