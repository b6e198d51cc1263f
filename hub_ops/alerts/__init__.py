"""Alerts: what went wrong reaches people once per incident, with reminders and a "resolved".

Plain Python (no Dagster): the config is fleet.yaml's `alerts:` block
(hub_ops.fleet.models.AlertSettings); incidents.py is the state machine, routing.py picks
routes, messages.py writes the content (redacted), render.py shapes it per channel,
send.py delivers it. hub_ops.defs.alerts feeds it from the Dagster instance.
"""

from __future__ import annotations

import datetime as dt

from hub_ops.alerts.incidents import Incident, Notification, Observation, advance
from hub_ops.alerts.messages import Message, build_message
from hub_ops.alerts.routing import routes_for
from hub_ops.alerts.send import Delivery, Sender
from hub_ops.fleet.models import AlertSettings

__all__ = [
    "Delivery",
    "Incident",
    "Message",
    "Notification",
    "Observation",
    "Sender",
    "advance",
    "dispatch",
]


def dispatch(
    settings: AlertSettings, notifications: list[Notification], sender: Sender, now: dt.datetime
) -> list[Delivery]:
    """Send each notification to every route that matches it; one Delivery per (notification,
    route). Never raises for a failing route (see Sender)."""
    deliveries = []
    for notification in notifications:
        routes = routes_for(settings, notification)
        if not routes:
            continue
        message = build_message(notification, settings.ui_url, sender.redact_values | sender.secrets.strings())
        deliveries += [sender.deliver(route, message, now) for route in routes]
    return deliveries
