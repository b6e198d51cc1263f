"""decommission_schedule: notices before the date, retirement on it, backups expired after."""

import datetime as dt

import dagster as dg

from hub_ops.decommission.calendar import standing
from hub_ops.defs.decommission.jobs import decommission_job
from hub_ops.defs.decommission.records import BACKUPS_EXPIRED, DECOMMISSIONED, decommission_records
from hub_ops.defs.shared.partitions import hub_run_tags
from hub_ops.defs.shared.resources import ClockResource, FleetResource
from hub_ops.fleet import FleetConfigError


@dg.schedule(
    cron_schedule="0 5 * * *",
    job=decommission_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: a notice report once a hub enters its notice window; its retirement on or after its "
    "date (again each day until it is recorded); its backups expired after keep_backups_days.",
)
def decommission_schedule(context: dg.ScheduleEvaluationContext, fleet: FleetResource, clock: ClockResource):
    # the clock's date when it is fixed (tests, the demo): the job's gates go by the same one
    if clock.fixed_date:
        today = clock.today()
    else:
        today = (context.scheduled_execution_time or dt.datetime.now(dt.UTC)).date()
    try:
        loaded = fleet.load()
    except FleetConfigError as e:
        return dg.SkipReason(f"fleet config invalid, nothing scheduled:\n{e}")
    records = decommission_records(context.instance)
    requests = []
    for hub in loaded.hubs():
        when = standing(hub, today)
        if when is None or when.phase == "scheduled":
            continue
        record = records.get(hub.id)
        state = record.state if record else None
        tags = hub_run_tags(hub.partition_key, "decommission")
        key = hub.partition_key
        if state == BACKUPS_EXPIRED:
            continue
        if state == DECOMMISSIONED:
            if today >= when.keep_backups_until:  # once per keep date
                requests.append(
                    dg.RunRequest(
                        run_key=f"decommission-expire-{hub.partition_key}-{when.keep_backups_until}",
                        run_config=_config(dry_run=False),
                        tags=tags,
                        partition_key=key,
                    )
                )
        elif when.phase == "notice":  # one notice per scheduled date
            requests.append(
                dg.RunRequest(
                    run_key=f"decommission-notice-{hub.partition_key}-{when.on}",
                    run_config=_config(dry_run=True),
                    tags=tags,
                    partition_key=key,
                )
            )
        else:  # due: each day until recorded, so a closed gate is retried tomorrow
            requests.append(
                dg.RunRequest(
                    run_key=f"decommission-{hub.partition_key}-{today}",
                    run_config=_config(dry_run=False),
                    tags=tags,
                    partition_key=key,
                )
            )
    return requests or dg.SkipReason(f"{today}: no hub in its notice window, due, or with backups to expire")


def _config(**op_config) -> dict:
    return {"ops": {"plan_decommission": {"config": op_config}}}
