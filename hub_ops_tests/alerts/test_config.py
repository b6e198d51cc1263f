"""fleet.yaml `alerts:` is validated like every other block: unknown keys, bad values, and
secret files that are missing, not encrypted, or lack the named key are problems naming the
file, the key and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_ops.fleet import validate_fleet
from hub_ops.fleet.models import FleetSettings
from hub_ops_tests.alerts.fleets import write_alerts
from hub_ops_tests.conftest import EXAMPLE_FLEET
from hub_ops_tests.fleet_helpers import line_of_text, write

SLACK = {"name": "ops-slack", "slack": {"webhook": "alerts.secret.yaml#slack_webhook"}}


def problems(root: Path) -> list[str]:
    _, found = validate_fleet(root)
    return [str(p) for p in found]


def test_a_valid_block_with_every_channel(example_fleet: Path):
    write_alerts(
        example_fleet,
        {
            "ui_url": "https://hub-ops.example.org/",
            "repeat_after": "12h",
            "routes": [
                {**SLACK, "match": {"severity": ["error", "warn"]}},
                {
                    "name": "pangeo-contacts",
                    "email": {
                        "smtp": "smtp.example.org:587",
                        "starttls": True,
                        "from": "hub-ops@example.org",
                        "to": ["pangeo-ops@example.org"],
                        "login": "alerts.secret.yaml#smtp",
                    },
                    "match": {"cluster": ["pangeo-hubs"], "kind": ["backup", "decommission"]},
                },
                {
                    "name": "pager",
                    "webhook": {"url": "https://events.example.org/hub-ops", "secret": "alerts.secret.yaml#hmac"},
                    "match": {"severity": ["error"]},
                },
            ],
        },
        {
            "slack_webhook": "https://hooks.slack.com/services/T/B/x",
            "smtp": {"username": "u", "password": "p"},
            "hmac": "k",
        },
    )
    fleet, found = validate_fleet(example_fleet)
    assert found == []
    alerts = fleet.settings.alerts
    assert alerts.ui_url == "https://hub-ops.example.org" and alerts.repeat_after.total_seconds() == 12 * 3600
    assert [r.channel for r in alerts.routes] == ["slack", "email", "webhook"]


def test_unknown_keys_and_bad_values_are_named_with_their_line(example_fleet: Path):
    write_alerts(
        example_fleet,
        {
            "repeat_after": "soon",
            "routes": [
                {**SLACK, "match": {"severity": ["critical"], "team": ["ops"]}},
                {"name": "both", "slack": SLACK["slack"], "webhook": {"url": "https://x.example.org"}},
                {"name": "ops-slack", "webhook": {"url": "https://x.example.org", "sekret": "a#b"}},
            ],
        },
        {"slack_webhook": "https://hooks.slack.com/services/T/B/x"},
    )
    line = lambda needle: line_of_text(example_fleet, "fleet.yaml", needle)  # noqa: E731
    assert problems(example_fleet) == [
        f"fleet.yaml:{line('repeat_after')} alerts.repeat_after: expected a duration such as 12h, 90m, 2d (got 'soon')",
        f"fleet.yaml:{line('- critical')} alerts.routes[0].match.severity[0]: "
        "Input should be 'error', 'warn' or 'info' (got 'critical')",
        f"fleet.yaml:{line('team:')} alerts.routes[0].match.team: unknown key",
        f"fleet.yaml:{line('name: both')} alerts.routes[1]: give exactly one of slack, email, webhook "
        "(got ['slack', 'webhook'])",
        f"fleet.yaml:{line('sekret')} alerts.routes[2].webhook.sekret: unknown key",
    ]


def test_secret_files_missing_plaintext_or_without_the_key_are_named(example_fleet: Path):
    write_alerts(
        example_fleet,
        {
            "routes": [
                SLACK,
                {"name": "pager", "webhook": {"url": "https://x.example.org", "secret": "alerts.secret.yaml#hmac"}},
                {
                    "name": "mail",
                    "email": {
                        "smtp": "smtp.example.org",
                        "from": "a@example.org",
                        "to": ["b@example.org"],
                        "login": "smtp.secret.yaml#smtp",
                    },
                },
                {"name": "plain", "webhook": {"url": "https://x.example.org", "secret": "plain.secret.yaml#hmac"}},
                {"name": "outside", "webhook": {"url": "https://x.example.org", "secret": "../x.secret.yaml#hmac"}},
            ]
        },
        {"slack_webhook": "https://hooks.slack.com/services/T/B/x"},
    )
    write(example_fleet, "plain.secret.yaml", "hmac: not-encrypted\n")
    line = lambda needle: line_of_text(example_fleet, "fleet.yaml", needle)  # noqa: E731
    assert problems(example_fleet) == [
        f"fleet.yaml:{line('alerts.secret.yaml#hmac')} alerts.routes[1].webhook.secret: no key 'hmac' in alerts.secret.yaml",
        f"fleet.yaml:{line('smtp.secret.yaml#smtp')} alerts.routes[2].email.login: file not found: smtp.secret.yaml",
        f"fleet.yaml:{line('plain.secret.yaml#hmac')} alerts.routes[3].webhook.secret: plain.secret.yaml is named as "
        "a secret but has no sops block: refusing a possibly leaked plaintext secret",
        f"fleet.yaml:{line('../x.secret.yaml')} alerts.routes[4].webhook.secret: must be a file inside the fleet "
        "folder: ../x.secret.yaml",
    ]


def test_route_names_are_unique():
    with pytest.raises(ValueError, match="duplicate route name 'ops-slack'"):
        FleetSettings.model_validate({"alerts": {"routes": [SLACK, SLACK]}})


def test_the_example_fleets_block_links_to_make_dev_and_sends_nowhere():
    fleet, found = validate_fleet(EXAMPLE_FLEET)
    assert found == []
    alerts = fleet.settings.alerts
    assert (alerts.ui_url, alerts.repeat_after.total_seconds(), alerts.routes) == ("http://localhost:3000", 43200, [])
