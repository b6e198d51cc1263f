"""One Message, three shapes: Slack Block Kit, e-mail (plain text + HTML), webhook JSON.

The webhook body is a documented contract (README, "Alerts"): `version` changes only when a
field is removed or changes meaning.
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from hub_ops.alerts.messages import Message

WEBHOOK_VERSION = 1
_SLACK_EMOJI = {"raised": ":red_circle:", "reminder": ":repeat:", "resolved": ":white_check_mark:"}
_SLACK_EMOJI_BY_SEVERITY = {"warn": ":warning:", "info": ":information_source:"}


def slack_payload(m: Message) -> dict:
    """An incoming-webhook body: Block Kit blocks, with `text` as the notification fallback."""
    emoji = _SLACK_EMOJI.get(m.event, ":bell:")
    if m.event == "raised":
        emoji = _SLACK_EMOJI_BY_SEVERITY.get(m.severity, emoji)
    fields = [("What", m.what), ("Where", m.where), ("Since", m.since)]
    if m.event != "resolved" and m.next_step:
        fields.append(("Next", m.next_step))
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(m.subject_line, 150), "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{_slack_escape(_cut(value, 1900))}"} for name, value in fields
            ],
        },
    ]
    if m.detail:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "```" + _cut(m.detail, 2900).replace("```", "'''") + "```"},
            }
        )
    if m.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open in Dagster"}, "url": m.link}
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"hub-ops · {m.kind} · incident `{m.incident_id}`"}],
        }
    )
    return {"text": f"{emoji} {m.subject_line}", "blocks": blocks}


def email_message(m: Message, sender: str, recipients: list[str]) -> EmailMessage:
    """A multipart/alternative e-mail: the plain text first, the same content as HTML."""
    msg = EmailMessage()
    msg["Subject"] = m.subject_line
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg["X-Hub-Ops-Incident"] = m.incident_id
    msg.set_content(m.text())
    rows = [("What", m.what), ("Where", m.where), ("Since", m.since)]
    if m.event != "resolved" and m.next_step:
        rows.append(("Next", m.next_step))
    table = "".join(
        f"<tr><th align='left' valign='top'>{name}</th><td>{html.escape(value)}</td></tr>" for name, value in rows
    )
    link = f"<p><a href='{html.escape(m.link, quote=True)}'>Open in Dagster</a></p>" if m.link else ""
    detail = f"<pre>{html.escape(m.detail)}</pre>" if m.detail else ""
    msg.add_alternative(
        f"<html><body><h3>{html.escape(m.subject_line)}</h3><table>{table}</table>{link}{detail}</body></html>",
        subtype="html",
    )
    return msg


def webhook_body(m: Message) -> dict:
    """The generic webhook's JSON body (documented in the README)."""
    return {
        "version": WEBHOOK_VERSION,
        "event": m.event,
        "incident": {
            "id": m.incident_id,
            "source": m.source,
            "subject": m.subject,
            "severity": m.severity,
            "kind": m.kind,
            "title": m.what,
            "where": m.where,
            "since": m.since,
            "opened_at": m.opened_at.isoformat(),
            "resolved_at": m.resolved_at.isoformat() if m.resolved_at else None,
            "failures": m.failures,
            "next_step": m.next_step,
            "detail": m.detail,
            "link": m.link,
        },
        "summary": m.subject_line,
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
