"""`fresh`: every hub that should be backed up has a snapshot younger than 26 hours.

Reads the truth from the backup destinations (not from Dagster's event log), so a backup
that "succeeded" without writing, a destination someone emptied, or a hub whose nightly
runs never started (a paused schedule, a stuck queue) all show up within the hour. Runs
hourly (backup_freshness_schedule) and after the nightly backups.
"""

import datetime as dt
from typing import TYPE_CHECKING

import dagster as dg

from hub_ops.backup.config import backup_destination, backups_enabled
from hub_ops.backup.repository import Repository, snapshot_time
from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.decommission.records import decommissioned_hubs
from hub_ops.defs.shared.checks import verdict
from hub_ops.defs.shared.metadata import table as table_value
from hub_ops.defs.shared.resources import FleetResource, StorageResource

if TYPE_CHECKING:
    import pandas as pd

MAX_AGE = dt.timedelta(hours=26)  # a nightly schedule plus two hours of slack


def stale_hubs(fleet, storage, now: dt.datetime, retired: frozenset[str] = frozenset()) -> "pd.DataFrame":
    """One row per hub to back up (not `retired`): its newest snapshot, age in hours, and
    whether it is fresh."""
    rows = []
    for hub in fleet.hubs():
        if not backups_enabled(hub) or hub.id in retired:
            continue
        destination = backup_destination(fleet, hub)
        try:
            ids = Repository.open(destination, storage).snapshot_ids(hub.id)
            error = None
        except Exception as e:  # noqa: BLE001 - an unreachable destination is a finding, not a crash
            ids, error = [], f"{type(e).__name__}: {e}"
        latest = ids[-1] if ids else None
        age = (now - snapshot_time(latest)) if latest else None
        rows.append(
            {
                "hub": hub.id,
                "latest snapshot": latest or "none",
                "age (h)": round(age.total_seconds() / 3600, 1) if age is not None else None,
                "fresh": bool(age is not None and age <= MAX_AGE),
                "problem": error
                or (
                    ""
                    if age is not None and age <= MAX_AGE
                    else "no snapshot"
                    if age is None
                    else f"older than {MAX_AGE.total_seconds() / 3600:.0f} h"
                ),
            }
        )
    import pandas as pd  # here, not at module level: the definitions load without it

    return pd.DataFrame(rows, columns=["hub", "latest snapshot", "age (h)", "fresh", "problem"])


@dg.asset_check(
    asset=user_home_backups,
    name="fresh",
    description="Every hub with backups has a snapshot younger than 26 h in its destination.",
)
def user_home_backups_fresh(
    context: dg.AssetCheckExecutionContext, fleet: FleetResource, storage: StorageResource
) -> dg.AssetCheckResult:
    table = stale_hubs(
        fleet.load(),
        storage.client(),
        dt.datetime.now(dt.UTC),
        frozenset(decommissioned_hubs(context.instance)),
    )
    stale = table[~table["fresh"]] if not table.empty else table
    return verdict(
        subject="hub",
        checked=list(table["hub"]),
        problems=stale[["hub", "latest snapshot", "age (h)", "problem"]].to_dict("records"),
        problem_columns=["hub", "latest snapshot", "age (h)", "problem"],
        ok="every hub backed up within 26 h",
        none_because="no hub of the fleet has backups enabled",
        metadata={"stale_hubs": dg.MetadataValue.int(len(stale)), "table": table_value(table)},
    )
