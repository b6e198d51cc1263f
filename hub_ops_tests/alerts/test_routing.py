"""Routes match on severity, kind, cluster and hub; every listed key must match."""

from __future__ import annotations

import datetime as dt

import pytest

from hub_ops.alerts.incidents import TEST, Incident, Notification
from hub_ops.alerts.routing import routes_for
from hub_ops.fleet.models import AlertSettings

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
SETTINGS = AlertSettings.model_validate(
    {
        "routes": [
            {"name": "everything", "webhook": {"url": "http://x/all"}},
            {"name": "errors", "webhook": {"url": "http://x/e"}, "match": {"severity": ["error"]}},
            {"name": "warn", "webhook": {"url": "http://x/w"}, "match": {"severity": ["warn"]}},
            {
                "name": "pangeo-backups",
                "webhook": {"url": "http://x/p"},
                "match": {"cluster": ["pangeo-hubs"], "kind": ["backup", "decommission"]},
            },
            {"name": "prod-hub", "webhook": {"url": "http://x/h"}, "match": {"hub": ["prod"]}},
        ]
    }
)


def note(severity="error", kind="backup", cluster="pangeo-hubs", hub="pangeo-hubs/prod", event="raised"):
    inc = Incident("s", "x", severity, kind, "t", "", cluster, hub, "", "", NOW, NOW, NOW)
    return Notification(event, inc, NOW)


@pytest.mark.parametrize(
    "notification, expected",
    [
        (note(), ["everything", "errors", "pangeo-backups", "prod-hub"]),
        (note(severity="warn", kind="clusters", hub=""), ["everything", "warn"]),
        (
            note(kind="deploy", cluster="community-hubs", hub="community-hubs/prod"),
            ["everything", "errors", "prod-hub"],
        ),
        (note(severity="info", kind="decommission", hub="pangeo-hubs/legacy"), ["everything", "pangeo-backups"]),
        (note(severity="warn", event=TEST), ["everything", "errors", "warn", "pangeo-backups", "prod-hub"]),
    ],
)
def test_routes_for(notification, expected):
    assert [r.name for r in routes_for(SETTINGS, notification)] == expected
