"""Delivery through real servers: Slack-format and signed generic webhooks to a local HTTP
server, e-mail to an aiosmtpd server (STARTTLS, login from the sops file); retries with
backoff on 5xx, none on 4xx, and no secret in what is recorded."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from hub_ops.alerts import dispatch
from hub_ops.alerts.incidents import RAISED, RESOLVED, Incident, Notification
from hub_ops.alerts.messages import build_message
from hub_ops.alerts.secrets import SecretResolver, fleet_secret_values
from hub_ops.alerts.send import Sender
from hub_ops.fleet import load_fleet
from hub_ops_tests.alerts.fleets import HMAC_KEY, SLACK_TOKEN, fleet_secret, sops, write_alerts

T0 = dt.datetime(2026, 3, 2, 2, 5, tzinfo=dt.UTC)


def incident(detail: str = "NotADirectoryError: /backups") -> Incident:
    return Incident(
        source="run:user_home_backups_job",
        subject="pangeo-hubs/prod",
        severity="error",
        kind="backup",
        title="user_home_backups_job failed for pangeo-hubs/prod",
        detail=detail,
        cluster="pangeo-hubs",
        hub="pangeo-hubs/prod",
        link="/runs/abc123",
        next_step="Fix the destination, then re-execute the partition.",
        opened_at=T0,
        last_failure_at=T0,
        last_notified_at=T0,
    )


def setup(example_fleet, http_receiver, smtp_server, routes, attempts=3):
    write_alerts(
        example_fleet,
        {"ui_url": "https://hub-ops.example.org/", "delivery_attempts": attempts, "routes": routes},
        {
            "slack_webhook": f"{http_receiver.url}/slack/{SLACK_TOKEN}",
            "hmac": HMAC_KEY,
            "smtp": {"username": smtp_server.username, "password": smtp_server.password} if smtp_server else {},
        },
    )
    fleet = load_fleet(example_fleet, check_files=True)
    client = sops(example_fleet)
    sleeps: list[float] = []
    sender = Sender(
        SecretResolver(fleet.root, client),
        fleet_secret_values(fleet, client),
        attempts=attempts,
        backoff_s=0.01,
        ssl_context=smtp_server.client_context() if smtp_server else None,
        sleep=sleeps.append,
    )
    return fleet.settings.alerts, sender, sleeps


def test_slack_gets_block_kit_and_the_webhook_a_signed_documented_body(example_fleet, http_receiver):
    settings, sender, _ = setup(
        example_fleet,
        http_receiver,
        None,
        [
            {"name": "ops-slack", "slack": {"webhook": "alerts.secret.yaml#slack_webhook"}},
            {"name": "pager", "webhook": {"url": f"{http_receiver.url}/pager", "secret": "alerts.secret.yaml#hmac"}},
        ],
    )
    deliveries = dispatch(settings, [Notification(RAISED, incident(), T0)], sender, T0)
    assert [(d.route, d.ok, d.attempts) for d in deliveries] == [("ops-slack", True, 1), ("pager", True, 1)]

    [slack] = http_receiver.at(f"/slack/{SLACK_TOKEN}")
    payload = slack.json()
    assert payload["text"].endswith("[ERROR] user_home_backups_job failed for pangeo-hubs/prod")
    kinds = [b["type"] for b in payload["blocks"]]
    assert kinds == ["header", "section", "section", "actions", "context"]
    fields = "\n".join(f["text"] for f in payload["blocks"][1]["fields"])
    assert "*Where*\npangeo-hubs/prod" in fields and "*Since*\n2026-03-02 02:05 UTC" in fields
    assert "*Next*\nFix the destination" in fields
    assert payload["blocks"][3]["elements"][0]["url"] == "https://hub-ops.example.org/runs/abc123"

    [pager] = http_receiver.at("/pager")
    expected_sig = "sha256=" + hmac.new(HMAC_KEY.encode(), pager.body, hashlib.sha256).hexdigest()
    assert pager.headers["X-Hub-Ops-Signature-256"] == expected_sig
    assert pager.headers["X-Hub-Ops-Event"] == "raised"
    body = pager.json()
    assert body["version"] == 1 and body["event"] == "raised"
    assert body["incident"]["source"] == "run:user_home_backups_job"
    assert body["incident"]["subject"] == "pangeo-hubs/prod"
    assert body["incident"]["link"] == "https://hub-ops.example.org/runs/abc123"
    assert body["incident"]["opened_at"] == T0.isoformat() and body["incident"]["resolved_at"] is None


def test_email_goes_over_starttls_with_the_login_from_sops_as_text_and_html(example_fleet, http_receiver, smtp_server):
    settings, sender, _ = setup(
        example_fleet,
        http_receiver,
        smtp_server,
        [
            {
                "name": "pangeo-contacts",
                "email": {
                    "smtp": smtp_server.address,
                    "starttls": True,
                    "from": "hub-ops@example.org",
                    "to": ["pangeo-ops@example.org", "oncall@example.org"],
                    "login": "alerts.secret.yaml#smtp",
                },
            }
        ],
    )
    resolved = Notification(
        RESOLVED, incident().__class__(**{**incident().__dict__, "resolved_at": T0 + dt.timedelta(days=2)}), T0
    )
    [delivery] = dispatch(settings, [resolved], sender, T0)
    assert delivery.ok, delivery.answer
    assert smtp_server.logins == ["hub-ops"]
    [(mail_from, rcpt, tls)] = smtp_server.envelopes
    assert (mail_from, rcpt, tls) == ("hub-ops@example.org", ["pangeo-ops@example.org", "oncall@example.org"], True)
    [mail] = smtp_server.messages
    assert mail["Subject"] == "[RESOLVED] user_home_backups_job failed for pangeo-hubs/prod"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Where: pangeo-hubs/prod" in text and "passed again at 2026-03-04 02:05 UTC" in text
    assert "https://hub-ops.example.org/runs/abc123" in text and "https://hub-ops.example.org/runs/abc123" in html
    assert smtp_server.password not in mail.as_string()


def test_a_wrong_smtp_password_is_a_recorded_failure_not_retried(example_fleet, http_receiver, smtp_server):
    settings, sender, sleeps = setup(
        example_fleet,
        http_receiver,
        smtp_server,
        [
            {
                "name": "mail",
                "email": {
                    "smtp": smtp_server.address,
                    "from": "a@example.org",
                    "to": ["b@example.org"],
                    "login": "alerts.secret.yaml#smtp",
                },
            }
        ],
    )
    smtp_server.password = "not-what-the-sops-file-says"  # the server's account changed
    [delivery] = dispatch(settings, [Notification(RAISED, incident(), T0)], sender, T0)
    assert (delivery.ok, delivery.attempts, sleeps) == (False, 1, []), delivery.answer
    assert "SMTP login refused: 535" in delivery.answer
    assert smtp_server.messages == []


def test_a_500_is_retried_with_backoff_and_a_404_is_not(example_fleet, http_receiver):
    settings, sender, sleeps = setup(
        example_fleet,
        http_receiver,
        None,
        [
            {"name": "flaky", "webhook": {"url": f"{http_receiver.url}/flaky"}},
            {"name": "gone", "webhook": {"url": f"{http_receiver.url}/gone"}},
        ],
        attempts=4,
    )
    http_receiver.status.update({"/flaky": 500, "/gone": 404})
    flaky, gone = dispatch(settings, [Notification(RAISED, incident(), T0)], sender, T0)
    assert (flaky.ok, flaky.attempts, len(http_receiver.at("/flaky"))) == (False, 4, 4)
    assert flaky.answer.startswith("HTTP 500")
    assert (gone.ok, gone.attempts, len(http_receiver.at("/gone"))) == (False, 1, 1)
    assert sleeps == [0.01, 0.02, 0.04], "exponential backoff between the four attempts of the flaky route"


def test_no_secret_reaches_a_message_or_a_recorded_answer(example_fleet, http_receiver):
    token = fleet_secret(
        example_fleet,
        "clusters/pangeo-hubs/enc-prod.secret.values.yaml",
        "basehub",
        "jupyterhub",
        "hub",
        "services",
        "hub-ops",
        "apiToken",
    )
    settings, sender, _ = setup(
        example_fleet,
        http_receiver,
        None,
        [{"name": "ops-slack", "slack": {"webhook": "alerts.secret.yaml#slack_webhook"}}],
        attempts=1,
    )
    http_receiver.status[f"/slack/{SLACK_TOKEN}"] = 503
    detail = f"helm upgrade failed: Secret 'hub' data[services.hub-ops.apiToken]={token} is invalid"
    message = build_message(Notification(RAISED, incident(detail), T0), settings.ui_url, sender.redact_values)
    assert token not in message.text() and "apiToken]=*** is invalid" in message.text()
    [delivery] = dispatch(settings, [Notification(RAISED, incident(detail), T0)], sender, T0)
    [received] = http_receiver.requests
    assert token not in received.body.decode() and "helm upgrade failed" in received.body.decode()
    # the route's URL (the Slack secret) is not in what is recorded about the failed delivery
    assert not delivery.ok and SLACK_TOKEN not in delivery.answer
    # and an unreachable Slack URL, whose error names the URL, is recorded redacted too
    http_receiver.status.clear()
    write_alerts(
        example_fleet,
        {"routes": [{"name": "s", "slack": {"webhook": "alerts.secret.yaml#slack_webhook"}}]},
        {"slack_webhook": f"http://127.0.0.1:9/{SLACK_TOKEN}"},
    )
    fleet = load_fleet(example_fleet)
    sender = Sender(SecretResolver(fleet.root, sops(example_fleet)), set(), attempts=1)
    [delivery] = dispatch(fleet.settings.alerts, [Notification(RAISED, incident(), T0)], sender, T0)
    assert not delivery.ok and "ConnectionError" in delivery.answer and SLACK_TOKEN not in delivery.answer
