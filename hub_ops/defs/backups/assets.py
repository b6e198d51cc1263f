"""`user_home_backups`: one snapshot of a hub's home directories per night, verified.

A materialization is a snapshot in the hub's backup destination (see hub_ops.backup). Its
metadata answers "when was this hub last backed up, how big, how much changed, where is
it" in the UI, with the last 14 snapshots as a table. The `verified` check (blocking)
runs in the same step: every content the new manifest names must be stored whole, and a
random 2% of them are read back and re-hashed.
"""

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

from hub_ops.backup.config import backup_destination, backups_enabled, retention_policy
from hub_ops.backup.errors import BackupIntegrityError, SourceError
from hub_ops.backup.manifest import SnapshotSummary, human_size
from hub_ops.backup.repository import Repository
from hub_ops.backup.retention import RetentionPolicy
from hub_ops.defs.backups.partitions import backup_partitions
from hub_ops.defs.shared.metadata import plain_values, table
from hub_ops.defs.shared.resources import BackupRunnerResource, FleetResource, StorageResource

if TYPE_CHECKING:
    from hub_ops.backup.verify import VerifyReport

DEEP_SAMPLE = 0.02  # fraction of contents re-hashed by the nightly check
HISTORY = 14
HISTORY_COLUMNS = [
    "snapshot",
    "created (UTC)",
    "files",
    "size",
    "bytes",
    "new bytes",
    "dedupe",
    "seconds",
    "unreadable",
]

verified_check = dg.AssetCheckSpec(
    "verified",
    asset="user_home_backups",
    blocking=True,
    description="Every content the night's manifest names is stored with its size; 2% re-hashed.",
)


def history_table(summaries: list[SnapshotSummary]) -> dg.MetadataValue:
    """The snapshots, newest first, as a native table (sizes in bytes, sortable)."""
    rows = [
        {
            "snapshot": s.id,
            "created (UTC)": s.created.replace("+00:00", ""),
            "files": s.files,
            "size": human_size(s.bytes),
            "bytes": s.bytes,
            "new bytes": s.new_bytes,
            "dedupe": round(s.dedupe_ratio, 2),
            "seconds": round(s.duration_s, 1),
            "unreadable": s.unreadable_count,
        }
        for s in reversed(summaries)
    ]
    return table(rows, HISTORY_COLUMNS)


def verified_result(hub_id: str, report: "VerifyReport") -> dg.AssetCheckResult:
    """The `verified` check for one snapshot, naming its hub; a snapshot that holds nothing
    to verify is a WARN, not a pass."""
    problems = [{"hub": hub_id, "problem": p} for p in report.problems[:50]]
    empty = report.ok and not report.contents
    return dg.AssetCheckResult(
        check_name="verified",
        passed=report.ok and not empty,
        severity=dg.AssetCheckSeverity.WARN if empty else dg.AssetCheckSeverity.ERROR,
        description=(
            f"{hub_id}: 0 of 0 contents checked, because the snapshot holds no files"
            if empty
            else f"{hub_id}: {report.contents} contents stored with their sizes, {report.deep_checked} re-hashed"
            if report.ok
            else f"{hub_id}: {len(report.problems)} problem(s) in snapshot {report.snapshot_id}"
        ),
        metadata={
            "hub": hub_id,
            "snapshot_id": report.snapshot_id,
            "files": report.files,
            "contents": report.contents,
            "objects_checked": report.objects,
            "contents_rehashed": report.deep_checked,
            "problems": table(problems, ["hub", "problem"]),
        },
    )


def snapshot_metadata(summary: SnapshotSummary, manifest_link: str, history: list[SnapshotSummary]) -> dict:
    meta = {
        "snapshot_id": summary.id,
        "files": dg.MetadataValue.int(summary.files),
        "bytes": dg.MetadataValue.int(summary.bytes),
        "size": summary_size(summary),
        "new_bytes": dg.MetadataValue.int(summary.new_bytes),
        "dedupe_ratio": dg.MetadataValue.float(round(summary.dedupe_ratio, 3)),
        "duration_s": dg.MetadataValue.float(summary.duration_s),
        "throughput_mb_s": dg.MetadataValue.float(round(summary.throughput_bps / 1e6, 1)),
        "files_read": dg.MetadataValue.int(summary.hashed_files),
        "manifest": dg.MetadataValue.url(manifest_link),
        "history": history_table(history),
    }
    if summary.skipped:
        meta["skipped"] = dg.MetadataValue.json(summary.skipped)
    if summary.unreadable_count:
        # not in this snapshot; the manifest keeps the first 100 "path: reason" lines
        meta["unreadable_files"] = dg.MetadataValue.int(summary.unreadable_count)
        meta["unreadable"] = table(
            [dict(zip(("path", "reason"), line.rpartition(": ")[::2], strict=True)) for line in summary.unreadable],
            ["path", "reason"],
        )
    return meta


def summary_size(summary: SnapshotSummary) -> str:
    return f"{human_size(summary.bytes)} in {summary.files} files ({human_size(summary.new_bytes)} new)"


@dg.asset(
    partitions_def=backup_partitions,
    check_specs=[verified_check],
    kinds={"gcs", "kubernetes", "python"},
    group_name="backups",
    pool="backups",
    # transient trouble (a prune holding the destination, a network error) is retried;
    # configuration and integrity failures are raised with allow_retries=False
    retry_policy=dg.RetryPolicy(max_retries=2, delay=300, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS),
    description="A nightly, incremental, deduplicated snapshot of a hub's home directories, verified.",
)
def user_home_backups(
    context: dg.AssetExecutionContext,
    fleet: FleetResource,
    storage: StorageResource,
    backup_runner: BackupRunnerResource,
):
    keys = context.partition_key.keys_by_dimension
    fleet_config = fleet.load()
    hub = fleet_config.hub(keys["hub"])
    if not backups_enabled(hub):
        raise dg.Failure(
            f"{hub.id} has no backups to take (no `home` block, or backups.enabled is false)", allow_retries=False
        )
    client = storage.client()
    destination = backup_destination(fleet_config, hub)
    repo = Repository.open(destination, client)
    workers = backup_runner.choose_workers(fleet_config, hub, repo)
    try:
        summary = backup_runner.backup(context, fleet_config, hub, client, workers)
    except (SourceError, BackupIntegrityError) as e:  # retrying will not fix these: say so now
        raise dg.Failure(f"{hub.id}: {e}", allow_retries=False) from e
    # numpy (verify, prune) is imported by the step, not by every load of the definitions
    from hub_ops.backup.prune import prune
    from hub_ops.backup.verify import verify_snapshot

    report = verify_snapshot(repo, hub.id, summary.id, deep=True, sample=DEEP_SAMPLE)
    forgotten: list[str] = []
    if report.ok:  # never forget old snapshots on the night the new one is bad
        policy: RetentionPolicy = retention_policy(fleet_config, hub)
        forgotten = prune(repo, hub.id, policy, gc=False).forgotten
    history = repo.summaries(hub.id)[-HISTORY:]
    link = client.public_url(repo.store.full_url(repo.manifest_key(hub.id, summary.id)))
    meta = snapshot_metadata(summary, link, history)
    meta["forgotten_snapshots"] = dg.MetadataValue.int(len(forgotten))
    meta["hub"] = hub.id
    meta["workers"] = dg.MetadataValue.int(workers.workers)
    meta["workers_because"] = workers.reason
    meta["verified"] = dg.MetadataValue.bool(report.ok)  # read back by latest_backups
    context.log.info(f"{hub.id}: snapshot {summary.id}, {summary_size(summary)}, verified: {report.ok}")
    yield dg.MaterializeResult(metadata=meta, data_version=dg.DataVersion(summary.id))
    yield verified_result(hub.id, report)


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@dataclass(frozen=True)
class BackupRecord:
    """A hub's latest recorded snapshot (what `user_home_backups` wrote)."""

    hub: str
    night: str
    snapshot_id: str
    bytes: int
    verified: bool | None  # None: recorded before hub_ops wrote the verdict here
    recorded_at: dt.datetime


def latest_backups(instance: dg.DagsterInstance, nights: int = 7) -> dict[str, BackupRecord]:
    """{hub id (cluster/hub): its newest snapshot (by night)} among the materializations
    recorded in the last `nights` days; a hub without one in that window is absent."""
    since = dt.datetime.now(dt.UTC).timestamp() - nights * 86400
    out: dict[str, BackupRecord] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=user_home_backups.key), limit=500, cursor=cursor, ascending=False
        )
        for record in page.records:
            if record.timestamp < since:  # newest first: the rest is older
                return out
            event = record.asset_materialization
            night, _, hub_key = (event.partition or "").partition("|")  # MultiPartitionKey: date|hub
            hub = hub_key.replace(".", "/", 1)
            if hub and (hub not in out or night > out[hub].night):
                meta = plain_values(event.metadata)
                out[hub] = BackupRecord(
                    hub=hub,
                    night=night,
                    snapshot_id=str(meta.get("snapshot_id", "")),
                    bytes=int(meta.get("bytes") or 0),
                    verified=meta.get("verified"),
                    recorded_at=dt.datetime.fromtimestamp(record.timestamp, dt.UTC),
                )
        if not page.has_more:
            return out
        cursor = page.cursor
