"""Which routes of fleet.yaml `alerts.routes` receive a notification."""

from __future__ import annotations

from hub_ops.alerts.incidents import TEST, Notification
from hub_ops.fleet.models import AlertMatch, AlertRoute, AlertSettings


def matches(match: AlertMatch, notification: Notification) -> bool:
    """Every key the route lists matches (an absent key matches everything). A `hub` entry
    is `cluster/hub` or a bare hub name; a notification without a hub matches no hub list."""
    incident = notification.incident
    if match.severity is not None and incident.severity not in match.severity:
        return False
    if match.kind is not None and incident.kind not in match.kind:
        return False
    if match.cluster is not None and incident.cluster not in match.cluster:
        return False
    if match.hub is not None:
        name = incident.hub.rpartition("/")[2]
        if not incident.hub or not any(h in (incident.hub, name) for h in match.hub):
            return False
    return True


def routes_for(settings: AlertSettings, notification: Notification) -> list[AlertRoute]:
    """The routes in their fleet.yaml order; a test message goes to every route."""
    if notification.event == TEST:
        return list(settings.routes)
    return [route for route in settings.routes if matches(route.match, notification)]
