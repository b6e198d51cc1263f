"""What the instance says went wrong (or right again), as hub_ops.alerts Observations.

Each reader pages forward from its own position (kept in the alerts sensor's cursor) and
returns at most `limit` records per tick, so a tick stays short however much history there is:
- finished runs (by update time): failures carry the STEP_FAILURE errors; with each run,
  the asset check evaluations it recorded, at their severity;
- sensor and schedule ticks: N failures in a row, and a schedule that did not tick at all;
- decommission notices and retirements (info).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType, TickStatus
from dagster._utils.schedules import reverse_cron_string_iterator

from hub_ops.alerts import Observation
from hub_ops.defs.decommission.assets import DECOMMISSION_NOTICES, HUB_DECOMMISSIONS
from hub_ops.defs.decommission.records import DecommissionRecord
from hub_ops.defs.shared.metadata import plain_values, table_text

# job -> kind (routes match on it); other jobs use their `hub_ops/kind` tag
JOB_KINDS = {
    "deploy_job": "deploy",
    "user_home_backups_job": "backup",
    "backup_freshness_job": "backup",
    "prune_backup_blobs_job": "backup",
    "restore_homes_job": "restore",
    "migrate_homes_job": "restore",
    "decommission_job": "decommission",
    "hub_daily_costs_job": "costs",
    "monthly_cost_report_job": "costs",
    "clusters_refresh_job": "clusters",
}
ASSET_KINDS = {
    "user_home_backups": "backup",
    "hub_releases": "deploy",
    "clusters": "clusters",
    "hub_daily_costs": "costs",
    "monthly_cost_report": "costs",
    "hub_decommissions": "decommission",
    "decommission_notices": "decommission",
}
INSTIGATOR_KINDS = {
    "deploy_on_push": "deploy",
    "nightly_backups": "backup",
    "backup_freshness_schedule": "backup",
    "prune_backup_blobs_schedule": "backup",
    "decommission_schedule": "decommission",
    "cost_report_schedule": "costs",
    "monthly_cost_report_schedule": "costs",
    "clusters_hourly_schedule": "clusters",
}
NEXT_STEPS = {
    "deploy": "Open the run, read the failed step's error, fix the release's values or chart in git and push "
    "(deploy_on_push deploys the fix), or re-execute the run if the cluster was unreachable.",
    "backup": "Open the run and fix what its error names (destination access, the home volume, the backup pod), "
    "then re-execute the failed partition of user_home_backups from the asset page.",
    "restore": "Open the run, fix what its error names, and launch the restore again: files already restored "
    "are skipped.",
    "decommission": "Open the run: a gate that failed says what to do (stop servers, resolve conflicts, give a "
    "reason); rerun decommission_job with the same config, it resumes where it stopped.",
    "costs": "Open the run and check the billing export it read (files or BigQuery) for the day it names; "
    "re-execute the partition once the export is complete.",
    "clusters": "Open the asset check: it lists each cluster and what is wrong (unreachable API, version skew, "
    "missing node pools); fix the cluster or its cluster.yaml, then refresh clusters.",
    "fleet": "Open the link, read the error, and fix the cause; the next successful run resolves this incident.",
}
_SEVERITY = {dg.AssetCheckSeverity.ERROR: "error", dg.AssetCheckSeverity.WARN: "warn"}
MAX_DETAIL = 4000


@dataclass
class Positions:
    """Where each reader stopped (the cursor's part that is not incidents)."""

    runs_after: float | None = None  # update timestamp of the last run read
    run_ids_at: list[str] = field(default_factory=list)  # runs read with exactly that timestamp
    events_after: dict[str, int] = field(default_factory=dict)  # reader -> last storage id
    ticks_seen: dict[str, float] = field(default_factory=dict)  # instigator -> last failing tick reported


def where(tags: dict[str, str]) -> tuple[str, str, str]:
    """(subject, cluster, hub) from a run's tags: the hub (`cluster/hub`; runs from before the
    tag took that spelling, and partition keys, say `cluster.hub`), else the cluster, else the
    whole fleet ("")."""
    hub_key = tags.get("hub_ops/hub", "")
    if hub_key:
        cluster, _, name = hub_key.partition("/") if "/" in hub_key else hub_key.partition(".")
        return f"{cluster}/{name}", cluster, f"{cluster}/{name}"
    cluster = tags.get("hub_ops/cluster", "")
    return cluster, cluster, ""


def failure_text(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run's STEP_FAILURE errors (step: message), else its RUN_FAILURE message."""
    lines = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        data = event.step_failure_data
        message = data.error.message.strip() if data and data.error else ""
        if data and data.user_failure_data and data.user_failure_data.description:
            message = data.user_failure_data.description.strip()
        lines.append(f"step {event.step_key}: {message}")
    if not lines:
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE):
            lines.append(record.dagster_event.message or "run failed")
    text = "\n".join(dict.fromkeys(lines))  # a retried step fails with the same text each time
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "\n..."


def run_observations(instance: dg.DagsterInstance, pos: Positions, limit: int = 100) -> list[Observation]:
    """Runs that finished (failure or success) since the last read, oldest first, and the
    asset check evaluations each of them recorded."""
    after = dt.datetime.fromtimestamp(pos.runs_after, dt.UTC) if pos.runs_after else None
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS], updated_after=after),
        order_by="update_timestamp",
        ascending=True,
        limit=limit + len(pos.run_ids_at),
    )
    out, read = [], 0
    for record in records:
        if read >= limit:
            break
        run = record.dagster_run
        stamp = record.update_timestamp.timestamp()
        if pos.runs_after is not None and stamp <= pos.runs_after and run.run_id in pos.run_ids_at:
            continue  # updated_after is inclusive on some storages
        if pos.runs_after is None or stamp > pos.runs_after:
            pos.runs_after, pos.run_ids_at = stamp, []
        pos.run_ids_at.append(run.run_id)
        read += 1
        if run.tags.get("hub_ops/alerts") == "off":
            continue
        out += check_observations(instance, run.run_id)
        if run.job_name.startswith("__"):  # an ad hoc materialization: its checks speak for it
            continue
        subject, cluster, hub = where(run.tags)
        kind = JOB_KINDS.get(run.job_name) or _kind_tag(run.tags.get("hub_ops/kind", ""))
        failed = run.status == dg.DagsterRunStatus.FAILURE
        at = record.end_time or stamp
        out.append(
            Observation(
                source=f"run:{run.job_name}",
                subject=subject,
                status="failing" if failed else "ok",
                at=dt.datetime.fromtimestamp(at, dt.UTC),
                severity="error",
                kind=kind,
                title=f"{run.job_name} failed" + (f" for {subject}" if subject else ""),
                detail=failure_text(instance, run.run_id) if failed else "",
                cluster=cluster,
                hub=hub,
                link=f"/runs/{run.run_id}",
                next_step=NEXT_STEPS[kind],
            )
        )
    return out


def _kind_tag(tag: str) -> str:
    return {"cost-report": "costs", "backup-prune": "backup"}.get(tag, tag if tag in NEXT_STEPS else "fleet")


def _materializations(instance, pos: Positions, reader: str, asset_key: dg.AssetKey, limit: int):
    """The asset's materializations after this reader's last storage id, oldest first."""
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, after_storage_id=pos.events_after.get(reader)),
        limit=limit,
        ascending=True,
    ).records
    if result:
        pos.events_after[reader] = result[-1].storage_id
    return result


def check_observations(instance: dg.DagsterInstance, run_id: str) -> list[Observation]:
    """The asset check evaluations of one run: failed ones at their severity, passed ones
    resolving. (Read per run: SQLite's run-sharded event log has no global cursor for them.)"""
    out = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        asset = evaluation.asset_key.to_user_string()
        kind = ASSET_KINDS.get(asset, "fleet")
        partition = getattr(evaluation, "partition", None) or ""
        subject, cluster, hub = where({"hub_ops/hub": partition}) if "." in partition else (partition, "", "")
        meta = plain_values(evaluation.metadata)
        is_table = lambda v: isinstance(v, dg.TableMetadataValue) or (isinstance(v, str) and "|" in v)  # noqa: E731
        tables = "\n\n".join(table_text(v) for v in meta.values() if is_table(v))
        detail = "\n\n".join(p for p in (evaluation.description or "", tables) if p)
        out.append(
            Observation(
                source=f"check:{asset}:{evaluation.check_name}",
                subject=subject,
                status="ok" if evaluation.passed else "failing",
                at=dt.datetime.fromtimestamp(record.timestamp, dt.UTC),
                severity=_SEVERITY.get(evaluation.severity, "error"),
                kind=kind,
                title=f"check {evaluation.check_name} of {asset} failed" + (f" for {subject}" if subject else ""),
                detail=detail[:MAX_DETAIL],
                cluster=cluster,
                hub=hub,
                link=f"/assets/{'/'.join(evaluation.asset_key.path)}?view=checks",
                next_step=NEXT_STEPS[kind],
            )
        )
    return out


def decommission_observations(instance: dg.DagsterInstance, pos: Positions, limit: int = 100) -> list[Observation]:
    """A notice written (the hub enters its notice window) and a retirement recorded: info."""
    out = []
    for record in _materializations(instance, pos, "notices", DECOMMISSION_NOTICES, limit):
        mat = record.asset_materialization
        subject, cluster, hub = where({"hub_ops/hub": mat.partition or ""})
        meta = plain_values(mat.metadata)
        if meta.get("phase") == "retired":  # the retirement itself is reported below, from its record
            continue
        out.append(
            Observation(
                source=f"decommission-notice:{meta.get('on', '')}",
                subject=subject,
                status="info",
                at=dt.datetime.fromtimestamp(record.timestamp, dt.UTC),
                severity="info",
                kind="decommission",
                title=f"{hub} will be decommissioned on {meta.get('on', '?')} ({meta.get('days_left', '?')} days left)",
                detail=table_text(meta.get("report"))[:MAX_DETAIL],
                cluster=cluster,
                hub=hub,
                link=f"/assets/{DECOMMISSION_NOTICES.to_user_string()}",
                next_step="Tell the hub's community: their homes move to the successor (if any) on that date; "
                "the notice report lists active users and cost per day.",
            )
        )
    for record in _materializations(instance, pos, "retirements", HUB_DECOMMISSIONS, limit):
        mat = record.asset_materialization
        subject, cluster, hub = where({"hub_ops/hub": mat.partition or ""})
        retired = DecommissionRecord.from_metadata(hub, plain_values(mat.metadata))
        if not retired.retired:
            continue
        successor = f"; homes migrated into {retired.successor}" if retired.successor else ""
        out.append(
            Observation(
                source=f"decommission-{retired.state.replace(' ', '-')}",
                subject=subject,
                status="info",
                at=dt.datetime.fromtimestamp(record.timestamp, dt.UTC),
                severity="info",
                kind="decommission",
                title=f"{hub}: {retired.state} on {retired.decommissioned_on or '?'}{successor}",
                detail=f"final snapshot {retired.final_snapshot or '-'} in {retired.destination or '-'}; "
                f"backups kept until {retired.keep_backups_until or '-'}",
                cluster=cluster,
                hub=hub,
                link=f"/assets/{HUB_DECOMMISSIONS.to_user_string()}",
                next_step="Tell the hub's contacts it is retired and where their files are.",
            )
        )
    return out


def tick_observations(
    instance: dg.DagsterInstance,
    failing_ticks: int,
    now: dt.datetime,
    schedules: dict[str, tuple[str, str]],
    own_name: str,
) -> list[Observation]:
    """Per running sensor/schedule: failing when its last `failing_ticks` ticks all failed,
    (a schedule) when its last cron time passed an hour ago without a tick, or (a sensor) when
    it stopped ticking (see _stalled); ok otherwise.

    schedules: name -> (cron, timezone) of the schedules in the code location.
    """
    out = []
    for state in instance.all_instigator_state(
        instigator_statuses={InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE}
    ):
        name = state.instigator_name
        if name == own_name or state.instigator_type not in (InstigatorType.SENSOR, InstigatorType.SCHEDULE):
            continue
        what = "sensor" if state.instigator_type == InstigatorType.SENSOR else "schedule"
        kind = INSTIGATOR_KINDS.get(name, "fleet")
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
        latest = ticks[0] if ticks else None
        repo = state.repository_selector
        base = dict(
            source=f"{what}:{name}",
            subject="",
            kind=kind,
            link=f"/locations/{repo.repository_name}@{repo.location_name}/{what}s/{name}",
        )
        problem = None
        if latest is not None and latest.status == TickStatus.FAILURE:
            count = latest.consecutive_failure_count or 1
            if count >= failing_ticks:
                error = latest.error.message.strip() if latest.error else "no error recorded"
                problem = (f"{what} {name} failed {count} ticks in a row", error)
        if problem is None and what == "schedule" and name in schedules:
            missed = _missed_tick(latest, schedules[name], now)
            if missed is not None:
                problem = (f"schedule {name} did not run at {missed:%Y-%m-%d %H:%M} UTC", "")
        if problem is None and what == "sensor" and latest is not None:
            problem = _stalled(state, latest, failing_ticks, now)
        at = dt.datetime.fromtimestamp(latest.timestamp, dt.UTC) if latest else now
        if problem:
            title, detail = problem
            next_step = (
                f"Open the {what}'s ticks: fix what the error names (the fleet repo, credentials, the config); "
                "check that the daemon runs."
            )
            out.append(
                Observation(
                    **base,
                    status="failing",
                    at=at,
                    severity="error",
                    title=title,
                    detail=detail[:MAX_DETAIL],
                    next_step=next_step,
                )
            )
        elif latest is not None:
            out.append(Observation(**base, status="ok", at=at, title=f"{what} {name} is ticking"))
    return out


STALL_GRACE = dt.timedelta(minutes=15)  # a busy daemon delays ticks; this is not yet a stall


def _stalled(state, latest, failing_ticks: int, now: dt.datetime) -> tuple[str, str] | None:
    """A running sensor whose last tick is older than `failing_ticks` intervals (at least
    STALL_GRACE): its evaluation hangs or times out, or its daemon thread is gone. A sensor
    that never ticked is one just turned on, not a stalled one."""
    interval = getattr(state.instigator_data, "min_interval", None) or 30
    last = dt.datetime.fromtimestamp(latest.timestamp, dt.UTC)
    if now - last <= max(dt.timedelta(seconds=failing_ticks * interval), STALL_GRACE):
        return None
    return (
        f"sensor {state.instigator_name} has not ticked since {last:%Y-%m-%d %H:%M} UTC",
        f"it should tick every {interval} s; its evaluation may hang or time out (60 s limit)",
    )


def _missed_tick(latest, cron: tuple[str, str], now: dt.datetime, grace=dt.timedelta(hours=1)) -> dt.datetime | None:
    """The cron time more than `grace` ago that has no tick at or after it, or None."""
    cron_string, timezone = cron
    due = next(reverse_cron_string_iterator((now - grace).timestamp(), cron_string, timezone or "UTC"))
    if latest is not None and latest.timestamp >= due.timestamp():
        return None
    if latest is None:
        return None  # never ticked: a schedule just turned on, not a stalled one
    return due.astimezone(dt.UTC)
