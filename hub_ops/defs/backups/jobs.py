"""Jobs a person launches from the UI (typed config forms), and the blob collector.

- `restore_homes_job` (partitioned by hub): a snapshot of the hub back into its homes, into
  a scratch folder beside them, or into a folder.
- `migrate_homes_job` (partitioned by the hub that receives): a snapshot of hub A into the
  homes of hub B: "the users' folders as they were a few days before the migration".
- `prune_backup_blobs_job`: per destination, delete contents no kept snapshot references
  (the nightly asset only forgets snapshots; see hub_ops.backup.prune for why deleting
  waits for the destination's exclusive lock).

A launch is safe by default. Into the hub's live homes only when the run names its `users`
(or says `all_users: true` with `all_users_reason`); otherwise the snapshot goes to
`.hub-ops-restored/<snapshot id>` beside the users' homes, for someone to pick from. A file
newer in the homes than in the snapshot is never replaced without `overwrite_newer_reason`.
The reasons are recorded in the run's output metadata. Writing into a hub holds its Lease
(BackupRunnerResource.restore), and the run carries the hub's `hub_ops/hub` tag.

All are safe to rerun: a restore skips files already in place, a prune deletes only what is
unreferenced.
"""

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from hub_ops.backup.config import backup_destination, local_home
from hub_ops.backup.locks import DEFAULT_GRACE_S
from hub_ops.backup.repository import Repository
from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.backups.checks import user_home_backups_fresh
from hub_ops.defs.shared.metadata import table
from hub_ops.defs.shared.partitions import hub_of_run, hub_partitioned_config
from hub_ops.defs.shared.resources import SCRATCH_FOLDER, BackupRunnerResource, FleetResource, StorageResource
from hub_ops.fleet import Fleet
from hub_ops.fleet.models import Hub

if TYPE_CHECKING:
    from hub_ops.backup.restore import RestoreReport
    from hub_ops.backup.worker_count import WorkerChoice


class _IntoHomesConfig(dg.Config):
    snapshot: str = Field(default="latest", description="A snapshot id (or unique prefix), or `latest`.")
    users: list[str] = Field(
        default=[],
        description="Restore these users' home folders into the live homes. Empty (and all_users false): the whole "
        f"snapshot goes to {SCRATCH_FOLDER}/SNAPSHOT_ID beside the homes instead.",
    )
    all_users: bool = Field(default=False, description="Restore every user's folder into the live homes.")
    all_users_reason: str = Field(default="", description="Why every user's live homes (required with all_users).")
    overwrite_newer_reason: str = Field(
        default="",
        description="Replace files newer in the homes than in the snapshot (kept by default), for this reason.",
    )


class RestoreHomesConfig(_IntoHomesConfig):
    """The hub is the run's partition."""

    target: str | None = Field(
        default=None, description="Restore into this folder (any users) instead of the hub's homes."
    )


class MigrateHomesConfig(_IntoHomesConfig):
    """The hub that receives the snapshot is the run's partition."""

    source_hub: str = Field(description="The hub whose snapshot to migrate, as cluster/hub.")


class PruneBlobsConfig(dg.Config):
    grace_hours: float = Field(default=DEFAULT_GRACE_S / 3600, description="Never delete objects younger than this.")
    dry_run: bool = Field(default=False, description="Count what would be deleted; delete nothing.")


def _report_metadata(report: "RestoreReport | None") -> dict:
    if report is None:
        return {"ran_in": "pods of the target hub's cluster, or worker processes (their logs hold the counts)"}
    return {
        "snapshot_id": report.snapshot_id,
        "target": report.target,
        "files": dg.MetadataValue.int(report.files),
        "bytes": dg.MetadataValue.int(report.bytes),
        "folders": dg.MetadataValue.int(report.dirs),
        "symlinks": dg.MetadataValue.int(report.symlinks),
        "already_there": dg.MetadataValue.int(report.already_there),
        "kept_newer": dg.MetadataValue.int(len(report.kept_newer)),
        "kept_newer_files": table([{"path": p} for p in report.kept_newer[:200]], ["path"]),  # the first 200
    }


def _where(config: _IntoHomesConfig, snapshot_id: str) -> tuple[str, list[str] | None, dict]:
    """Into the live homes (subfolder "") for the named users or, with a reason, everyone;
    else the scratch subfolder. Returns (subfolder, users, what to record)."""
    if config.all_users and config.users:
        raise dg.Failure("give either `users` or `all_users: true`, not both", allow_retries=False)
    if config.all_users and not config.all_users_reason.strip():
        raise dg.Failure(
            "all_users: true replaces every user's live home folder with the snapshot's: give all_users_reason "
            "(it is recorded), or name the `users`",
            allow_retries=False,
        )
    recorded = {"overwrite_newer_reason": config.overwrite_newer_reason.strip() or "none: newer files kept"}
    if config.all_users:
        return "", None, {**recorded, "into": "live homes, every user", "all_users_reason": config.all_users_reason}
    if config.users:
        return "", list(config.users), {**recorded, "into": "live homes, users: " + ", ".join(config.users)}
    scratch = f"{SCRATCH_FOLDER}/{snapshot_id}"
    return scratch, None, {**recorded, "into": f"scratch folder {scratch} beside the homes (no users named)"}


def _snapshot_id(fleet: Fleet, source: Hub, snapshot: str, storage: StorageResource) -> str:
    return Repository.open(backup_destination(fleet, source), storage.client()).resolve(source.id, snapshot)


def _workers(
    fleet: Fleet, source: Hub, snapshot_id: str, storage: StorageResource, runner: BackupRunnerResource, users, recorded
) -> "WorkerChoice | None":
    """For a whole hub (no `users`): the restore workers, recorded with why; else None."""
    if users:
        return None
    repo = Repository.open(backup_destination(fleet, source), storage.client())
    choice = runner.choose_workers(fleet, source, repo, snapshot_id)
    recorded.update(restore_workers=dg.MetadataValue.int(choice.workers), restore_workers_because=choice.reason)
    return choice


def _refuse_target_in_live_homes(fleet: Fleet, hub: Hub, target: str) -> None:
    home = local_home(fleet, hub)
    if home is None:
        return
    home, path = Path(home).resolve(), Path(target).resolve()
    if (path == home or home in path.parents) and (home / SCRATCH_FOLDER) not in (path, *path.parents):
        raise dg.Failure(
            f"target {target} is inside {hub.id}'s live homes ({home}): leave `target` empty and name the `users` "
            "(or all_users with a reason) to restore into them",
            allow_retries=False,
        )


@dg.op(tags={"hub_ops/kind": "restore"})
def restore_homes(
    context: dg.OpExecutionContext,
    config: RestoreHomesConfig,
    fleet: FleetResource,
    storage: StorageResource,
    backup_runner: BackupRunnerResource,
) -> dg.Output:
    """The run's hub's snapshot into a folder, its named users' live homes, or a scratch folder beside them."""
    hub_id = hub_of_run(context)
    fleet_config = fleet.load()
    hub = fleet_config.hub(hub_id)
    snapshot_id = _snapshot_id(fleet_config, hub, config.snapshot, storage)
    if config.target:
        _refuse_target_in_live_homes(fleet_config, hub, config.target)
        report = backup_runner.restore(
            context,
            fleet_config,
            hub,
            snapshot_id,
            storage.client(),
            into_path=config.target,
            users=list(config.users) or None,
            overwrite_newer_reason=config.overwrite_newer_reason.strip(),
        )
        recorded = {"into": f"folder {config.target}"}
    else:
        subfolder, users, recorded = _where(config, snapshot_id)
        workers = _workers(fleet_config, hub, snapshot_id, storage, backup_runner, users, recorded)
        report = backup_runner.restore(
            context,
            fleet_config,
            hub,
            snapshot_id,
            storage.client(),
            into_hub=hub,
            subfolder=subfolder,
            users=users,
            overwrite_newer_reason=config.overwrite_newer_reason.strip() if not subfolder else "",
            workers=workers,
        )
    context.log.info(f"restore of {hub.id} {snapshot_id}: {recorded}")
    return dg.Output(None, metadata={**recorded, **_report_metadata(report)})


@dg.op(tags={"hub_ops/kind": "restore"})
def migrate_homes(
    context: dg.OpExecutionContext,
    config: MigrateHomesConfig,
    fleet: FleetResource,
    storage: StorageResource,
    backup_runner: BackupRunnerResource,
) -> dg.Output:
    """A snapshot of `source_hub` into the run's hub's named users' homes, or a scratch folder beside them."""
    target_id = hub_of_run(context)
    fleet_config = fleet.load()
    source, target = fleet_config.hub(config.source_hub), fleet_config.hub(target_id)
    if source.id == target.id:
        raise dg.Failure(f"migrate_homes: source and target are the same hub ({source.id}); use restore_homes_job")
    snapshot_id = _snapshot_id(fleet_config, source, config.snapshot, storage)
    subfolder, users, recorded = _where(config, snapshot_id)
    workers = _workers(fleet_config, source, snapshot_id, storage, backup_runner, users, recorded)
    report = backup_runner.restore(
        context,
        fleet_config,
        source,
        snapshot_id,
        storage.client(),
        into_hub=target,
        subfolder=subfolder,
        users=users,
        overwrite_newer_reason=config.overwrite_newer_reason.strip() if not subfolder else "",
        workers=workers,
    )
    context.log.info(f"migration of {source.id} {snapshot_id} into {target.id}: {recorded}")
    return dg.Output(None, metadata={"from": source.id, "into_hub": target.id, **recorded, **_report_metadata(report)})


PRUNE_COLUMNS = ["destination", "blobs_deleted", "packs_deleted", "bytes_deleted", "too_young", "skipped_because"]


@dg.op(tags={"hub_ops/kind": "backup-prune"})
def prune_backup_blobs(
    context: dg.OpExecutionContext, config: PruneBlobsConfig, fleet: FleetResource, storage: StorageResource
) -> dg.Output:
    from hub_ops.backup.prune import PruneReport, collect_garbage  # numpy: not at load

    fleet_config = fleet.load()
    client = storage.client()
    rows = []
    for destination in sorted({backup_destination(fleet_config, hub) for hub in fleet_config.hubs()}):
        repo = Repository.open(destination, client)
        report = PruneReport(hub="(all hubs)", policy="unreferenced contents", dry_run=config.dry_run)
        collect_garbage(repo, report, grace_s=config.grace_hours * 3600, dry_run=config.dry_run, log=context.log.info)
        rows.append(
            {
                "destination": destination,
                "blobs_deleted": report.blobs_deleted,
                "packs_deleted": report.packs_deleted,
                "bytes_deleted": report.bytes_deleted,
                "too_young": report.too_young,
                "skipped_because": report.gc_skipped or "",
            }
        )
    return dg.Output(None, metadata={"destinations": table(rows, PRUNE_COLUMNS)})


@dg.job(
    description="Restore a snapshot of the hub (the partition): named users into its live homes, else into "
    f"{SCRATCH_FOLDER}/SNAPSHOT_ID beside them, or into a folder.",
    tags={"hub_ops/kind": "restore"},
    config=hub_partitioned_config("restore", {"ops": {"restore_homes": {"config": {"snapshot": "latest"}}}}),
)
def restore_homes_job():
    restore_homes()


@dg.job(
    description="Restore a snapshot of another hub (source_hub) into the homes of this one (the partition): "
    f"a migration. Named users into the live homes, else into {SCRATCH_FOLDER}/SNAPSHOT_ID beside them.",
    tags={"hub_ops/kind": "restore"},
    config=hub_partitioned_config(
        "restore", {"ops": {"migrate_homes": {"config": {"source_hub": "", "snapshot": "latest"}}}}
    ),
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
