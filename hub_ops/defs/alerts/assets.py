"""`alert_incidents`: what the alerts sensor saw and sent, as observations a person reads in
the UI: the open incidents (since when, how often, routes told) and each delivery (route,
event, attempts, what the route answered). Written by alerts_sensor; read by `open_incidents`."""

from __future__ import annotations

import dagster as dg

from hub_ops.alerts import Delivery, Incident, Notification
from hub_ops.defs.shared.metadata import plain_values, table

ALERT_INCIDENTS = dg.AssetKey("alert_incidents")

alert_incidents = dg.AssetSpec(
    ALERT_INCIDENTS,
    group_name="alerts",
    description="Incidents raised by alerts_sensor (failed runs, failed checks, failing or silent sensors and "
    "schedules, decommission notices) and every delivery to fleet.yaml's alert routes, with what each answered.",
)


INCIDENT_COLUMNS = ["severity", "what", "where", "since (UTC)", "failures", "reminders", "last told (UTC)"]


def incidents_table(incidents: dict[str, Incident]) -> dg.MetadataValue:
    """The open incidents, oldest first; `where` is the hub id (cluster/hub), else the cluster,
    else "fleet" (read back by open_alerts_by_subject)."""
    return table(
        [
            {
                "severity": inc.severity,
                "what": inc.title,
                "where": inc.hub or inc.cluster or "fleet",
                "since (UTC)": f"{inc.opened_at:%Y-%m-%d %H:%M}",
                "failures": inc.failures,
                "reminders": inc.reminders,
                "last told (UTC)": f"{inc.last_notified_at:%Y-%m-%d %H:%M}",
            }
            for inc in sorted(incidents.values(), key=lambda i: i.opened_at)
        ],
        INCIDENT_COLUMNS,
    )


DELIVERY_COLUMNS = ["event", "what", "route", "channel", "ok", "attempts", "answer"]


def deliveries_table(notifications: list[Notification], deliveries: list[Delivery]) -> dg.MetadataValue:
    """One row per delivery of each notification; a notification no route matched is one row
    saying so (empty: nothing to send)."""
    rows = []
    for n in notifications:
        sent = [d for d in deliveries if d.incident_id == n.incident.id and d.event == n.event]
        if not sent:
            rows.append({"event": n.event, "what": n.incident.title, "answer": "no matching route"})
        rows += [
            {
                "event": n.event,
                "what": n.incident.title,
                "route": d.route,
                "channel": d.channel,
                "ok": d.ok,
                "attempts": d.attempts,
                "answer": str(d.answer)[:160],  # a route's error page can be long
            }
            for d in sent
        ]
    return table(rows, DELIVERY_COLUMNS)


def incidents_observation(
    incidents: dict[str, Incident], notifications: list[Notification], deliveries: list[Delivery]
) -> dg.AssetObservation:
    failed = sorted({d.route for d in deliveries if not d.ok})
    return dg.AssetObservation(
        asset_key=ALERT_INCIDENTS,
        description=(
            f"{len(incidents)} open incident(s); {len(notifications)} notification(s), "
            f"{sum(d.ok for d in deliveries)} of {len(deliveries)} deliveries ok"
            + (f"; failing routes: {', '.join(failed)}" if failed else "")
        ),
        metadata={
            "open_incidents": dg.MetadataValue.int(len(incidents)),
            "notifications": dg.MetadataValue.int(len(notifications)),
            "deliveries_ok": dg.MetadataValue.int(sum(d.ok for d in deliveries)),
            "deliveries_failed": dg.MetadataValue.int(sum(not d.ok for d in deliveries)),
            "failing_routes": ", ".join(failed) or "none",
            "incidents": incidents_table(incidents),
            "deliveries": deliveries_table(notifications, deliveries),
        },
    )


def latest_incidents_record(instance: dg.DagsterInstance) -> dict | None:
    """Plain metadata of the latest `alert_incidents` observation, or None."""
    records = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=ALERT_INCIDENTS), limit=1).records
    return plain_values(records[0].asset_observation.metadata) if records else None


def open_alerts_by_subject(instance: dg.DagsterInstance) -> dict[str, int]:
    """{hub id, cluster or "fleet": open incidents} from the latest `alert_incidents` observation."""
    incidents = (latest_incidents_record(instance) or {}).get("incidents")
    counts: dict[str, int] = {}
    if isinstance(incidents, dg.TableMetadataValue):  # earlier observations wrote markdown: not read
        for record in incidents.records:
            counts[record.data["where"]] = counts.get(record.data["where"], 0) + 1
    return counts
