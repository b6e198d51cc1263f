"""The journal of a retirement: each finished step of decommission_job, recorded as an
observation on the hub's `hub_decommissions` partition before the next step starts, so a
rerun after a crash at any step knows what is done (and never repeats teardown)."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from hub_ops.defs.decommission.assets import HUB_DECOMMISSIONS
from hub_ops.defs.shared.metadata import plain_values
from hub_ops.fleet import Fleet, load_fleet

TEARDOWN_STEPS = ("uninstall_release", "delete_hub_namespace")
# journaled just before the first teardown step starts: from then on the hub may be half gone
TEARDOWN_BEGAN_STEP = "teardown_began"


@dataclass
class Retirement:
    """What each step of one hub's retirement needs, and what the steps did so far."""

    hub: str
    partition: str
    fleet_root: str  # where the hub's definition was read (the config, or git at its last deploy)
    successor: str | None
    destination: str
    today: str
    keep_backups_until: str
    journal: dict[str, dict] = field(default_factory=dict)  # step -> {"result": ..., extras}
    force_running: str = ""
    overwrite_reason: str = ""
    namespace_timeout_s: float = 600.0

    def fleet(self) -> Fleet:
        return load_fleet(self.fleet_root, check_files=False)

    def done(self, *steps: str) -> bool:
        return any(s in self.journal for s in steps)

    @property
    def teardown_began(self) -> bool:
        """helm uninstall may have started (in this run or an earlier one)."""
        return self.done(TEARDOWN_BEGAN_STEP, *TEARDOWN_STEPS)

    @property
    def final_snapshot(self) -> str | None:
        return self.journal.get("final_backup", {}).get("snapshot_id")

    def steps(self) -> tuple[tuple[str, str], ...]:
        """(step, result) of every finished step, in order."""
        return tuple((step, str(entry.get("result", ""))) for step, entry in self.journal.items())


def record_step(context, retirement: Retirement, step: str, result: str, **extra) -> None:
    """Record a finished step, in the journal and in the retirement's state."""
    retirement.journal[step] = {"result": result, **extra}
    context.log_event(
        dg.AssetObservation(
            asset_key=HUB_DECOMMISSIONS,
            partition=retirement.partition,
            metadata={"step": step, "result": result, **extra},
        )
    )
    context.log.info(f"{retirement.hub}: {step}: {result}")


def read_journal(instance: dg.DagsterInstance, partition: str) -> dict[str, dict]:
    """The steps recorded for the hub's partition, oldest first (a later entry of the same
    step replaces an earlier one)."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=HUB_DECOMMISSIONS, asset_partitions=[partition]), limit=200, ascending=True
    ).records
    journal: dict[str, dict] = {}
    for record in records:
        meta = plain_values(record.asset_observation.metadata)
        if meta.get("step"):
            journal[meta.pop("step")] = meta
    return journal
