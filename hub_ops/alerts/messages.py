"""The content of an alert, the same on every channel: what failed, where, since when, what
to do next, and a link into the Dagster UI. Secrets are removed here, before any renderer
sees the text."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub_ops.alerts.incidents import INFO, RAISED, REMINDER, RESOLVED, TEST, Notification
from hub_ops.deploy.values import redact

MAX_DETAIL = 2000  # chars of error text: enough for a helm error, short enough for Slack's 3000

_PREFIX = {RAISED: "", REMINDER: "Still failing: ", RESOLVED: "", INFO: "", TEST: "Test: "}


@dataclass(frozen=True)
class Message:
    event: str  # raised | reminder | resolved | info | test
    severity: str
    kind: str
    subject_line: str
    what: str
    where: str
    since: str
    next_step: str
    detail: str
    link: str  # absolute URL, or "" when there is nothing to link to
    incident_id: str
    source: str
    subject: str
    failures: int
    opened_at: dt.datetime
    resolved_at: dt.datetime | None

    def text(self) -> str:
        """Plain text (e-mail body, logs, the demo's printout)."""
        lines = [self.subject_line, "", f"What:  {self.what}", f"Where: {self.where}", f"Since: {self.since}"]
        if self.event != RESOLVED and self.next_step:
            lines.append(f"Next:  {self.next_step}")
        if self.link:
            lines.append(f"Link:  {self.link}")
        if self.detail:
            lines += ["", self.detail]
        return "\n".join(lines) + "\n"


def build_message(notification: Notification, ui_url: str, secrets: set[str]) -> Message:
    """The message for `notification`; every text field is redacted with `secrets`."""
    inc = notification.incident
    where = inc.hub or inc.cluster or "the whole fleet"
    if inc.cluster and inc.hub and not inc.hub.startswith(inc.cluster + "/"):
        where = f"{inc.hub} ({inc.cluster})"
    since = _since(notification)
    label = {"error": "ERROR", "warn": "WARN", "info": "INFO"}.get(inc.severity, inc.severity.upper())
    if notification.event == RESOLVED:
        label = "RESOLVED"
    subject_line = f"[{label}] {_PREFIX.get(notification.event, '')}{inc.title}"
    detail = inc.detail if len(inc.detail) <= MAX_DETAIL else inc.detail[: MAX_DETAIL - 20] + "\n... (cut; see the run)"
    link = f"{ui_url.rstrip('/')}{inc.link}" if inc.link.startswith("/") else inc.link
    secrets = {s for s in secrets if s}
    clean = lambda s: redact(s, secrets)  # noqa: E731
    return Message(
        event=notification.event,
        severity=inc.severity,
        kind=inc.kind,
        subject_line=clean(subject_line),
        what=clean(inc.title),
        where=clean(where),
        since=since,
        next_step=clean(inc.next_step),
        detail=clean(detail),
        link=link,
        incident_id=inc.id,
        source=inc.source,
        subject=inc.subject,
        failures=inc.failures,
        opened_at=inc.opened_at,
        resolved_at=inc.resolved_at,
    )


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _since(n: Notification) -> str:
    inc = n.incident
    if n.event == RESOLVED and inc.resolved_at:
        hours = (inc.resolved_at - inc.opened_at).total_seconds() / 3600
        return f"{_when(inc.opened_at)}; passed again at {_when(inc.resolved_at)} (open {hours:.1f} h)"
    if n.event in (INFO, TEST):
        return _when(inc.opened_at)
    times = f", failed {inc.failures} times" if inc.failures > 1 else ""
    return f"{_when(inc.opened_at)}{times}; last failure {_when(inc.last_failure_at)}"
