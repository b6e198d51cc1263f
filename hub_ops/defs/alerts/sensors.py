"""alerts_sensor: every minute, read what happened since the last tick, advance the incidents,
send what is due, and record it.

The cursor holds the open incidents and where each reader stopped, so a daemon restart
resumes without repeating or losing a message. The first tick starts watching at the
instance's latest run and event (old history raises nothing) and says so. Sending never
raises: a route that fails after its retries is recorded (`alert_incidents`, the tick's
log) and the tick goes on; the runs that raised the alert are never touched.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import dagster as dg

from hub_ops.alerts import Incident, Sender, advance, dispatch
from hub_ops.alerts.secrets import SecretResolver, fleet_secret_values
from hub_ops.defs.alerts.assets import incidents_observation
from hub_ops.defs.alerts.resources import AlertDeliveryResource
from hub_ops.defs.alerts.sources import (
    Positions,
    decommission_observations,
    run_observations,
    tick_observations,
)
from hub_ops.defs.shared.resources import FleetResource, SopsResource
from hub_ops.fleet import FleetConfigError

SENSOR_NAME = "alerts_sensor"
CURSOR_VERSION = 1


def read_cursor(cursor: str | None) -> tuple[Positions, dict[str, Incident]] | None:
    if not cursor:
        return None
    data = json.loads(cursor)
    if data.get("v") != CURSOR_VERSION:
        return None
    incidents = {key: Incident.from_json(value) for key, value in data.get("incidents", {}).items()}
    return Positions(**data.get("positions", {})), incidents


def write_cursor(positions: Positions, incidents: dict[str, Incident]) -> str:
    return json.dumps(
        {
            "v": CURSOR_VERSION,
            "positions": dataclasses.asdict(positions),
            "incidents": {key: inc.to_json() for key, inc in sorted(incidents.items())},
        },
        sort_keys=True,
    )


def start_positions(instance: dg.DagsterInstance) -> Positions:
    """Where a first tick starts: after the newest run and event the instance holds."""
    pos = Positions()
    latest = instance.get_run_records(order_by="update_timestamp", ascending=False, limit=1)
    if latest:
        pos.runs_after = latest[0].update_timestamp.timestamp()
        pos.run_ids_at = [latest[0].dagster_run.run_id]
    newest = instance.event_log_storage.get_maximum_record_id() or 0
    pos.events_after = {"notices": newest, "retirements": newest}
    return pos


def _schedules(context: dg.SensorEvaluationContext) -> dict[str, tuple[str, str]]:
    repo = getattr(context, "repository_def", None)
    if repo is None:
        return {}
    return {
        s.name: (s.cron_schedule, s.execution_timezone or "UTC")
        for s in repo.schedule_defs
        if isinstance(s.cron_schedule, str)
    }


def evaluate_alerts(
    context: dg.SensorEvaluationContext,
    fleet: FleetResource,
    sops: SopsResource,
    alert_delivery: AlertDeliveryResource,
    now: dt.datetime | None = None,
) -> dg.SensorResult | dg.SkipReason:
    """One tick (a function so tests evaluate it at any time they choose)."""
    now = now or dt.datetime.now(dt.UTC)
    instance = context.instance
    try:
        loaded = fleet.load()
    except FleetConfigError as e:
        return dg.SkipReason(f"fleet config invalid, no alerts evaluated (the cursor stays):\n{e}")
    settings = loaded.settings.alerts
    previous = read_cursor(context.cursor)
    if previous is None:
        positions = start_positions(instance)
        return dg.SensorResult(
            skip_reason=f"started watching: runs updated after {positions.runs_after or 'the start'}, "
            f"asset events after id {positions.events_after['notices']}",
            cursor=write_cursor(positions, {}),
        )
    positions, incidents = previous
    observations = (
        run_observations(instance, positions)
        + decommission_observations(instance, positions)
        + tick_observations(instance, settings.failing_ticks, now, _schedules(context), SENSOR_NAME)
    )
    step = advance(incidents, observations, now, settings.repeat_after)
    deliveries = []
    if step.notifications:
        sops_client = sops.client()
        sender = Sender(
            SecretResolver(loaded.root, sops_client),
            fleet_secret_values(loaded, sops_client),
            attempts=settings.delivery_attempts,
            backoff_s=alert_delivery.backoff_s,
            timeout_s=alert_delivery.timeout_s,
            ssl_context=alert_delivery.ssl_context(),
        )
        deliveries = dispatch(settings, step.notifications, sender, now)
    for d in deliveries:
        log = context.log.info if d.ok else context.log.warning
        outcome = "ok" if d.ok else "FAILED"
        log(f"{d.event} -> {d.route} ({d.channel}): {outcome} after {d.attempts} attempt(s): {d.answer}")
    cursor = write_cursor(positions, step.state)
    changed = step.state.keys() != incidents.keys() or bool(step.notifications)
    if not changed:
        return dg.SensorResult(
            skip_reason=f"{len(observations)} observation(s), {len(step.state)} open incident(s), nothing to send",
            cursor=cursor,
        )
    return dg.SensorResult(
        skip_reason=f"{len(step.notifications)} notification(s), {sum(d.ok for d in deliveries)} of "
        f"{len(deliveries)} deliveries ok; {len(step.state)} open incident(s)",
        cursor=cursor,
        asset_events=[incidents_observation(step.state, step.notifications, deliveries)],
    )


@dg.sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Failed runs, failed asset checks, failing or silent sensors and schedules, decommission notices "
    "and retirements become incidents sent to fleet.yaml's alert routes (raised, reminded, resolved).",
)
def alerts_sensor(
    context: dg.SensorEvaluationContext,
    fleet: FleetResource,
    sops: SopsResource,
    alert_delivery: AlertDeliveryResource,
):
    return evaluate_alerts(context, fleet, sops, alert_delivery)
