"""The retirement record of each hub (`hub_decommissions` materializations): written by
decommission_job, read here by everyone else (deploys and nightly backups skip retired hubs).

States, in order: `teardown began` (written just before helm uninstall: from then on the hub
is half torn down and nothing may deploy it again, even if the run died), `decommissioned`,
`backups expired`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import dagster as dg

from hub_ops.defs.decommission.assets import HUB_DECOMMISSIONS
from hub_ops.defs.shared.metadata import plain_values, table

TEARDOWN_BEGAN, DECOMMISSIONED, BACKUPS_EXPIRED = "teardown began", "decommissioned", "backups expired"


@dataclass(frozen=True)
class DecommissionRecord:
    """A retired hub: when, into which successor, where its final snapshot is, and (once
    keep_backups_days have passed) that its backups were expired."""

    hub: str
    state: str  # TEARDOWN_BEGAN | DECOMMISSIONED | BACKUPS_EXPIRED
    decommissioned_on: str = ""
    keep_backups_until: str = ""
    successor: str = ""
    final_snapshot: str = ""
    destination: str = ""
    steps: tuple[tuple[str, str], ...] = ()  # (step, result) of every step, in order
    left_on_cluster: str = ""
    backups_expired_on: str = ""
    snapshots_forgotten: int = 0
    blobs_deleted: int = 0
    bytes_deleted: int = 0
    blob_collection: str = ""  # "done", or why the blobs were not collected yet

    @property
    def retired(self) -> bool:
        return self.state in (DECOMMISSIONED, BACKUPS_EXPIRED)

    @property
    def off_limits(self) -> bool:
        """Retired, or half torn down: deploys and backups must leave it alone."""
        return self.retired or self.state == TEARDOWN_BEGAN

    @classmethod
    def from_metadata(cls, hub: str, meta: dict) -> DecommissionRecord:
        fields = {name for name in cls.__dataclass_fields__ if name != "hub"}
        known = {k: v for k, v in meta.items() if k in fields}
        if "steps" in known:
            known["steps"] = _steps(known["steps"])
        return cls(hub=hub, **known)

    def materialization(self, partition: str, description: str) -> dg.AssetMaterialization:
        meta = {k: v for k, v in asdict(self).items() if k != "hub" and v not in ("", None, ())}
        if "steps" in meta:
            meta["steps"] = table([{"step": s, "result": r} for s, r in self.steps], ["step", "result"])
        return dg.AssetMaterialization(
            asset_key=HUB_DECOMMISSIONS, partition=partition, description=description, metadata=meta
        )


def _steps(value) -> tuple[tuple[str, str], ...]:
    """(step, result) pairs from a record's `steps`: a native table, or the markdown table
    records written before it became one."""
    if isinstance(value, dg.TableMetadataValue):
        return tuple((str(r.data.get("step", "")), str(r.data.get("result", ""))) for r in value.records)
    rows = [line.strip().strip("|").split("|", 1) for line in str(value).splitlines()[2:]]
    return tuple((step.strip(), result.strip()) for step, result in (r for r in rows if len(r) == 2))


def decommission_records(instance: dg.DagsterInstance) -> dict[str, DecommissionRecord]:
    """The latest record per hub id (`cluster/hub`)."""
    out = {}
    for key in instance.get_materialized_partitions(HUB_DECOMMISSIONS):
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=HUB_DECOMMISSIONS, asset_partitions=[key]), limit=1
        ).records
        if records:
            hub = key.replace(".", "/", 1)
            out[hub] = DecommissionRecord.from_metadata(hub, plain_values(records[0].asset_materialization.metadata))
    return out


def decommissioned_hubs(instance: dg.DagsterInstance) -> dict[str, str]:
    """Hub ids that are retired or whose teardown began, with the reason deploys and backups
    skip them (a half torn-down hub is finished by rerunning decommission_job, never
    reinstalled)."""
    return {
        hub: (
            f"decommissioned on {record.decommissioned_on or '?'}"
            if record.retired
            else f"teardown began on {record.decommissioned_on or '?'}: rerun decommission_job to finish it"
        )
        for hub, record in decommission_records(instance).items()
        if record.off_limits
    }
