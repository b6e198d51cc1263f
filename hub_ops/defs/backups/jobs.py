"""Jobs a person launches from the UI (typed config forms), and the blob collector.

- `restore_homes_job`: a snapshot of a hub (whole, or one user) back into that hub's homes,
  or into a folder.
- `migrate_homes_job`: a snapshot of hub A into the homes of hub B: "the users' folders as
  they were a few days before the migration".
- `prune_backup_blobs_job`: per destination, delete contents no kept snapshot references
  (the nightly asset only forgets snapshots; see hub_ops.backup.prune for why deleting
  waits for the destination's exclusive lock).

All are safe to rerun: a restore skips files already in place, a prune deletes only what is
unreferenced.
"""

import dagster as dg
from pydantic import Field

from hub_ops.backup import Repository, RestoreReport
from hub_ops.backup.config import backup_destination
from hub_ops.backup.prune import DEFAULT_GRACE_S, PruneReport, collect_garbage
from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.backups.checks import user_home_backups_fresh
from hub_ops.defs.shared.resources import BackupRunnerResource, FleetResource, StorageResource


class RestoreHomesConfig(dg.Config):
    hub: str = Field(description="The hub whose snapshot to restore, as cluster/hub.")
    snapshot: str = Field(default="latest", description="A snapshot id (or unique prefix), or `latest`.")
    user: str | None = Field(default=None, description="Restore this user's home folder only (default: everyone's).")
    target: str | None = Field(default=None, description="Restore into this folder instead of the hub's own homes.")


class MigrateHomesConfig(dg.Config):
    hub: str = Field(description="The hub to migrate from, as cluster/hub.")
    target_hub: str = Field(description="The hub whose homes receive the snapshot, as cluster/hub.")
    snapshot: str = Field(default="latest", description="A snapshot id of the source hub (or prefix), or `latest`.")
    user: str | None = Field(default=None, description="Migrate this user's home folder only (default: everyone's).")


class PruneBlobsConfig(dg.Config):
    grace_hours: float = Field(default=DEFAULT_GRACE_S / 3600, description="Never delete objects younger than this.")
    dry_run: bool = Field(default=False, description="Count what would be deleted; delete nothing.")


def _report_metadata(report: RestoreReport | None) -> dict:
    if report is None:
        return {"ran_in": "a pod of the target hub's cluster (its log holds the counts)"}
    return {
        "snapshot_id": report.snapshot_id,
        "target": report.target,
        "files": dg.MetadataValue.int(report.files),
        "bytes": dg.MetadataValue.int(report.bytes),
        "folders": dg.MetadataValue.int(report.dirs),
        "symlinks": dg.MetadataValue.int(report.symlinks),
        "already_there": dg.MetadataValue.int(report.already_there),
    }


@dg.op(tags={"hub_ops/kind": "restore"})
def restore_homes(
    context: dg.OpExecutionContext,
    config: RestoreHomesConfig,
    fleet: FleetResource,
    storage: StorageResource,
    backup_runner: BackupRunnerResource,
) -> dg.Output:
    fleet_config = fleet.load()
    hub = fleet_config.hub(config.hub)
    report = backup_runner.restore(
        context,
        fleet_config,
        hub,
        config.snapshot,
        storage.client(),
        into_hub=None if config.target else hub,
        into_path=config.target,
        user=config.user,
    )
    return dg.Output(None, metadata=_report_metadata(report))


@dg.op(tags={"hub_ops/kind": "restore"})
def migrate_homes(
    context: dg.OpExecutionContext,
    config: MigrateHomesConfig,
    fleet: FleetResource,
    storage: StorageResource,
    backup_runner: BackupRunnerResource,
) -> dg.Output:
    fleet_config = fleet.load()
    source, target = fleet_config.hub(config.hub), fleet_config.hub(config.target_hub)
    if source.id == target.id:
        raise dg.Failure(f"migrate_homes: source and target are the same hub ({source.id}); use restore_homes_job")
    report = backup_runner.restore(
        context, fleet_config, source, config.snapshot, storage.client(), into_hub=target, user=config.user
    )
    return dg.Output(None, metadata={"from": source.id, "into": target.id, **_report_metadata(report)})


@dg.op(tags={"hub_ops/kind": "backup-prune"})
def prune_backup_blobs(
    context: dg.OpExecutionContext, config: PruneBlobsConfig, fleet: FleetResource, storage: StorageResource
) -> dg.Output:
    fleet_config = fleet.load()
    client = storage.client()
    rows = []
    for destination in sorted({backup_destination(fleet_config, hub) for hub in fleet_config.hubs()}):
        repo = Repository.open(destination, client)
        report = PruneReport(hub="(all hubs)", policy="unreferenced contents", dry_run=config.dry_run)
        collect_garbage(repo, report, grace_s=config.grace_hours * 3600, dry_run=config.dry_run, log=context.log.info)
        rows.append(
            f"| {destination} | {report.blobs_deleted} | {report.packs_deleted} | {report.bytes_deleted} | "
            f"{report.too_young} | {report.gc_skipped or ''} |"
        )
    table = (
        "| destination | blobs deleted | packs deleted | bytes deleted | too young | skipped because |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    return dg.Output(None, metadata={"destinations": dg.MetadataValue.md(table)})


@dg.job(
    description="Restore a hub's snapshot (whole or one user) into its own homes, or into a folder.",
    tags={"hub_ops/kind": "restore"},
)
def restore_homes_job():
    restore_homes()


@dg.job(
    description="Restore a snapshot of one hub into the homes of another (a migration).",
    tags={"hub_ops/kind": "restore"},
)
def migrate_homes_job():
    migrate_homes()


@dg.job(description="Delete backup contents no kept snapshot references, per destination.")
def prune_backup_blobs_job():
    prune_backup_blobs()


user_home_backups_job = dg.define_asset_job(
    "user_home_backups_job",
    selection=[user_home_backups],
    description="Back up one hub's homes (one partition of user_home_backups).",
)

backup_freshness_job = dg.define_asset_job(
    "backup_freshness_job",
    selection=dg.AssetSelection.checks(user_home_backups_fresh),
    description="Check that every hub has a snapshot younger than 26 h.",
)
