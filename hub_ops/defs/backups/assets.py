"""`user_home_backups`: one snapshot of a hub's home directories per night, verified.

A materialization is a snapshot in the hub's backup destination (see hub_ops.backup). Its
metadata answers "when was this hub last backed up, how big, how much changed, where is
it" in the UI, with the last 14 snapshots as a table. The `verified` check (blocking)
runs in the same step: every content the new manifest names must be stored whole, and a
random 2% of them are read back and re-hashed.
"""

import datetime as dt

import dagster as dg
import pandas as pd

from hub_ops.backup import (
    BackupIntegrityError,
    Repository,
    RetentionPolicy,
    SnapshotSummary,
    SourceError,
    prune,
    verify_snapshot,
)
from hub_ops.backup.config import backup_destination, backups_enabled, retention_policy
from hub_ops.backup.manifest import human_size
from hub_ops.defs.backups.partitions import backup_partitions
from hub_ops.defs.shared.resources import BackupRunnerResource, FleetResource, StorageResource

DEEP_SAMPLE = 0.02  # fraction of contents re-hashed by the nightly check
HISTORY = 14

verified_check = dg.AssetCheckSpec(
    "verified",
    asset="user_home_backups",
    blocking=True,
    description="Every content the night's manifest names is stored with its size; 2% re-hashed.",
)


def history_table(summaries: list[SnapshotSummary]) -> str:
    """Markdown table of snapshots, newest first."""
    if not summaries:
        return "_no snapshots yet_"
    df = pd.DataFrame(
        [
            {
                "snapshot": s.id,
                "created (UTC)": s.created.replace("+00:00", ""),
                "files": s.files,
                "size": human_size(s.bytes),
                "new": human_size(s.new_bytes),
                "dedupe": f"{s.dedupe_ratio:.2f}x",
                "seconds": round(s.duration_s, 1),
                "unreadable": s.unreadable_count,
            }
            for s in reversed(summaries)
        ]
    )
    return df.to_markdown(index=False)


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
        "history": dg.MetadataValue.md(history_table(history)),
    }
    if summary.skipped:
        meta["skipped"] = dg.MetadataValue.json(summary.skipped)
    if summary.unreadable_count:
        meta["unreadable"] = dg.MetadataValue.md(
            f"{summary.unreadable_count} file(s) could not be read and are not in this snapshot:\n\n"
            + "\n".join(f"- `{line}`" for line in summary.unreadable)
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
    try:
        summary = backup_runner.backup(context, fleet_config, hub, client)
    except (SourceError, BackupIntegrityError) as e:  # retrying will not fix these: say so now
        raise dg.Failure(f"{hub.id}: {e}", allow_retries=False) from e
    destination = backup_destination(fleet_config, hub)
    repo = Repository.open(destination, client)

    report = verify_snapshot(repo, hub.id, summary.id, deep=True, sample=DEEP_SAMPLE)
    forgotten: list[str] = []
    if report.ok:  # never forget old snapshots on the night the new one is bad
        policy: RetentionPolicy = retention_policy(fleet_config, hub)
        forgotten = prune(repo, hub.id, policy, gc=False).forgotten
    history = repo.summaries(hub.id)[-HISTORY:]
    link = client.public_url(repo.store.full_url(repo.manifest_key(hub.id, summary.id)))
    meta = snapshot_metadata(summary, link, history)
    meta["forgotten_snapshots"] = dg.MetadataValue.int(len(forgotten))
    context.log.info(f"{hub.id}: snapshot {summary.id}, {summary_size(summary)}, verified: {report.ok}")
    yield dg.MaterializeResult(metadata=meta, data_version=dg.DataVersion(summary.id))
    yield dg.AssetCheckResult(
        check_name="verified",
        passed=report.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "snapshot_id": summary.id,
            "files": report.files,
            "contents": report.contents,
            "objects_checked": report.objects,
            "contents_rehashed": report.deep_checked,
            "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in report.problems[:50]) or "none"),
        },
    )


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()
