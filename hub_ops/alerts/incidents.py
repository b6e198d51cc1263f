"""Incidents: one per (source, subject), raised once, reminded every repeat_after, resolved once.

`advance` is a pure function of (previous state, observations, now): the sensor keeps the
state between ticks (in its cursor), so a daemon restart resumes where it stopped and a
tick evaluated twice with the same input says the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

RAISED, REMINDER, RESOLVED, INFO, TEST = "raised", "reminder", "resolved", "info", "test"


@dataclass(frozen=True)
class Observation:
    """One fact about a (source, subject): failing, passing again, or an info notice.

    source: what produced it, e.g. `run:user_home_backups_job`, `check:clusters:reachable`,
    `sensor:deploy_on_push`, `decommission-notice`. subject: what it is about, e.g. a hub
    id `pangeo-hubs/prod`, a cluster, or "" for the whole fleet.
    """

    source: str
    subject: str
    status: str  # "failing" | "ok" | "info"
    at: dt.datetime
    severity: str = "error"  # error | warn | info
    kind: str = "fleet"  # deploy | backup | restore | decommission | costs | clusters | fleet
    title: str = ""  # what failed, one line: "Backup of pangeo-hubs/prod failed"
    detail: str = ""  # the error text (redacted before it is sent)
    cluster: str = ""
    hub: str = ""  # cluster/hub
    link: str = ""  # path under ui_url: /runs/<id>, /assets/<key>
    next_step: str = ""

    @property
    def key(self) -> str:
        return f"{self.source}|{self.subject}"


@dataclass(frozen=True)
class Incident:
    """An open problem: what the first failure said, updated by later ones."""

    source: str
    subject: str
    severity: str
    kind: str
    title: str
    detail: str
    cluster: str
    hub: str
    link: str
    next_step: str
    opened_at: dt.datetime
    last_failure_at: dt.datetime
    last_notified_at: dt.datetime
    failures: int = 1
    reminders: int = 0
    resolved_at: dt.datetime | None = None

    @property
    def key(self) -> str:
        return f"{self.source}|{self.subject}"

    @property
    def id(self) -> str:
        """Stable across ticks and restarts: the key and when it opened."""
        return f"{self.key}@{self.opened_at.isoformat()}"

    @classmethod
    def opened_by(cls, obs: Observation, now: dt.datetime) -> Incident:
        return cls(
            source=obs.source,
            subject=obs.subject,
            severity=obs.severity,
            kind=obs.kind,
            title=obs.title,
            detail=obs.detail,
            cluster=obs.cluster,
            hub=obs.hub,
            link=obs.link,
            next_step=obs.next_step,
            opened_at=obs.at,
            last_failure_at=obs.at,
            last_notified_at=now,
        )

    def to_json(self) -> dict:
        out = dataclasses.asdict(self)
        for name in ("opened_at", "last_failure_at", "last_notified_at", "resolved_at"):
            out[name] = out[name].isoformat() if out[name] else None
        return out

    @classmethod
    def from_json(cls, data: dict) -> Incident:
        times = {
            name: dt.datetime.fromisoformat(data[name]) if data.get(name) else None
            for name in ("opened_at", "last_failure_at", "last_notified_at", "resolved_at")
        }
        return cls(**{**data, **times})


@dataclass(frozen=True)
class Notification:
    """A message to send: `event` (raised, reminder, resolved, info, test) about `incident`."""

    event: str
    incident: Incident
    at: dt.datetime


@dataclass
class Advance:
    state: dict[str, Incident] = field(default_factory=dict)  # open incidents by key
    notifications: list[Notification] = field(default_factory=list)


def advance(
    state: dict[str, Incident], observations: list[Observation], now: dt.datetime, repeat_after: dt.timedelta
) -> Advance:
    """The open incidents after `observations` (in time order), and what to tell people.

    - failing, nothing open: a new incident, `raised`;
    - failing, open: the incident records it (detail, count), no message;
    - ok, open: closed, `resolved` (once); ok, nothing open: nothing;
    - info: one `info` message, nothing stays open;
    - then every incident still open and not told for `repeat_after` gets one `reminder`.
    Never mutates `state`.
    """
    out = Advance(dict(state))
    for obs in sorted(observations, key=lambda o: o.at):
        current = out.state.get(obs.key)
        if obs.status == "info":
            note = Incident.opened_by(obs, now)
            out.notifications.append(Notification(INFO, dataclasses.replace(note, resolved_at=obs.at), now))
        elif obs.status == "failing":
            if current is None:
                incident = Incident.opened_by(obs, now)
                out.state[obs.key] = incident
                out.notifications.append(Notification(RAISED, incident, now))
            elif obs.at > current.last_failure_at:
                out.state[obs.key] = dataclasses.replace(
                    current,
                    detail=obs.detail or current.detail,
                    link=obs.link or current.link,
                    severity=_worse(current.severity, obs.severity),
                    last_failure_at=obs.at,
                    failures=current.failures + 1,
                )
        elif obs.status == "ok" and current is not None and obs.at >= current.last_failure_at:
            del out.state[obs.key]
            closed = dataclasses.replace(current, resolved_at=obs.at, link=obs.link or current.link)
            out.notifications.append(Notification(RESOLVED, closed, now))
    for key, incident in sorted(out.state.items()):
        if now - incident.last_notified_at >= repeat_after and not _raised_now(out, key):
            reminded = dataclasses.replace(incident, last_notified_at=now, reminders=incident.reminders + 1)
            out.state[key] = reminded
            out.notifications.append(Notification(REMINDER, reminded, now))
    return out


def _raised_now(out: Advance, key: str) -> bool:
    return any(n.event == RAISED and n.incident.key == key for n in out.notifications)


_RANK = {"info": 0, "warn": 1, "error": 2}


def _worse(a: str, b: str) -> str:
    return a if _RANK.get(a, 2) >= _RANK.get(b, 2) else b
