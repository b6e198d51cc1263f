"""Deliver a Message through one route: Slack incoming webhook, SMTP, or a signed webhook.

Each delivery is retried with exponential backoff on what may pass (connection errors,
timeouts, HTTP 429 and 5xx, SMTP 4xx) and returns a Delivery saying what the route
answered. It never raises: a failing route is recorded, and the caller carries on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from hub_ops.alerts.messages import Message
from hub_ops.alerts.render import email_message, slack_payload, webhook_body
from hub_ops.alerts.secrets import AlertSecretError, SecretResolver
from hub_ops.deploy.values import redact
from hub_ops.fleet.models import AlertRoute

SIGNATURE_HEADER = "X-Hub-Ops-Signature-256"
EVENT_HEADER = "X-Hub-Ops-Event"
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Delivery:
    route: str
    channel: str
    event: str
    incident_id: str
    ok: bool
    attempts: int
    answer: str  # "HTTP 200", "250 accepted", or why it failed (redacted)
    at: dt.datetime


class _Retryable(Exception):
    pass


@dataclass
class Sender:
    """Delivers messages; `secrets` resolves the routes' `file#key`s, `redact_values` are
    removed from every answer recorded."""

    secrets: SecretResolver
    redact_values: set[str]
    attempts: int = 3
    backoff_s: float = 0.5  # 0.5 s, 1 s, 2 s ...: short, a sensor tick has 60 s
    timeout_s: float = TIMEOUT_S
    ssl_context: ssl.SSLContext | None = None  # None: the system's CAs
    sleep: Callable[[float], None] = time.sleep

    def deliver(self, route: AlertRoute, message: Message, now: dt.datetime) -> Delivery:
        answer, attempt = "", 0
        for attempt in range(1, self.attempts + 1):
            try:
                answer = self._send_once(route, message)
                return self._delivery(route, message, now, True, attempt, answer)
            except _Retryable as e:
                answer = str(e)
            except (AlertSecretError, _Final) as e:
                return self._delivery(route, message, now, False, attempt, str(e))
            if attempt < self.attempts:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
        return self._delivery(route, message, now, False, attempt, answer)

    def _delivery(self, route, message, now, ok: bool, attempts: int, answer: str) -> Delivery:
        secrets = self.redact_values | self.secrets.strings()
        clean = redact(answer, {s for s in secrets if s})[:300]
        return Delivery(route.name, route.channel, message.event, message.incident_id, ok, attempts, clean, now)

    def _send_once(self, route: AlertRoute, message: Message) -> str:
        if route.slack is not None:
            url = str(self.secrets.value(route.slack.webhook))
            return self._post(url, json.dumps(slack_payload(message)).encode(), {})
        if route.webhook is not None:
            body = json.dumps(webhook_body(message), sort_keys=True).encode()
            headers = {EVENT_HEADER: message.event}
            if route.webhook.secret:
                headers[SIGNATURE_HEADER] = signature(str(self.secrets.value(route.webhook.secret)), body)
            return self._post(route.webhook.url, body, headers)
        return self._mail(route, message)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str:
        import requests  # here, not at module level: the Dagster definitions load without it

        try:
            response = requests.post(
                url,
                data=body,
                headers={"Content-Type": "application/json", "User-Agent": "hub-ops-alerts", **headers},
                timeout=self.timeout_s,
            )
        except requests.RequestException as e:
            raise _Retryable(f"{type(e).__name__}: {e}") from None
        answer = f"HTTP {response.status_code} {response.text[:120].strip()}".strip()
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(answer)
        if response.status_code >= 300:
            raise _Final(answer)
        return answer

    def _mail(self, route: AlertRoute, message: Message) -> str:
        target = route.email
        host, _, port = target.smtp.partition(":")
        login = self.secrets.value(target.login) if target.login else None
        if login is not None and not (isinstance(login, dict) and {"username", "password"} <= set(login)):
            raise _Final(f"{target.login}: expected a mapping with username and password")
        mail = email_message(message, target.from_, target.to)
        try:
            with smtplib.SMTP(host, int(port or 587), timeout=self.timeout_s) as smtp:
                smtp.ehlo()
                if target.starttls:
                    smtp.starttls(context=self.ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if login is not None:
                    smtp.login(str(login["username"]), str(login["password"]))
                refused = smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as e:
            raise _Final(f"SMTP login refused: {e.smtp_code}") from None
        except smtplib.SMTPResponseException as e:
            text = f"SMTP {e.smtp_code} {e.smtp_error.decode(errors='replace')[:120]}"
            raise (_Retryable(text) if 400 <= e.smtp_code < 500 else _Final(text)) from None
        except (OSError, smtplib.SMTPException) as e:
            raise _Retryable(f"{type(e).__name__}: {e}") from None
        if refused:
            raise _Final(f"SMTP refused {', '.join(sorted(refused))}")
        return f"SMTP accepted for {len(target.to)} recipient(s)"


class _Final(Exception):
    """A failure retrying will not fix (HTTP 4xx, SMTP 5xx, a bad login)."""


def signature(key: str, body: bytes) -> str:
    """The value of X-Hub-Ops-Signature-256: `sha256=` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
