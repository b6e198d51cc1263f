"""Daily activity per hub, from observations of the hub's users listing.

JupyterHub keeps only each user's and each server's *latest* activity (`last_activity`, updated
by the hub about every 5 minutes while a user works) and each running server's `started`. It
keeps no history, so hub_ops builds one: every observation (the `hub_usage` asset, at least
daily; hourly is better) lists the hub's users and folds what it sees into a ledger, one JSON
file per hub and day (`<folder>/<cluster>/<hub>/YYYY-MM-DD.json`):

- active users of a day: users with an activity time (theirs or one of their servers') on
  that day, as seen by any observation. A day's activity is lost only when a user was active
  again after midnight before the next observation (it overwrites the older time), so an
  observation shortly after midnight UTC makes the day exact;
- servers started on a day: distinct (user, server name, start time) seen running; a server
  started and stopped between two observations is not seen;
- peak concurrent servers: the most servers (running or starting) counted by any one
  observation made on that day: a sample, so a peak between observations is missed.

Users are kept as hashes (sha256 of hub id and name, 16 hex digits): the ledger and anything
built from it carry counts, never names. Folding the same observation in twice changes
nothing, so reruns are safe.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from hub_ops.clients.jupyterhub import HubApi, HubApiError
from hub_ops.clients.storage import Storage

LOOKBACK_DAYS = 1  # an observation updates its own day and the day before


def user_key(hub_id: str, name: str) -> str:
    return hashlib.sha256(f"{hub_id}\0{name}".encode()).hexdigest()[:16]


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


@dataclass
class Observation:
    """One look at a hub's users listing at `at`."""

    hub: str  # cluster/hub
    at: dt.datetime
    activity: list[tuple[str, dt.datetime]]  # (user key, an activity time)
    starts: list[tuple[str, dt.datetime]]  # (server key, its start time)
    running: int  # servers running or starting now


def observe(hub_id: str, users: Iterable[dict], at: dt.datetime) -> Observation:
    """An Observation from JupyterHub user models (GET /users)."""
    activity, starts, running = [], [], 0
    for user in users:
        who = user_key(hub_id, user["name"])
        if (seen := parse_time(user.get("last_activity"))) is not None:
            activity.append((who, seen))
        for server_name, server in (user.get("servers") or {}).items():
            running += 1
            if (seen := parse_time(server.get("last_activity"))) is not None:
                activity.append((who, seen))
            if (started := parse_time(server.get("started"))) is not None:
                activity.append((who, started))
                starts.append((f"{who}/{server_name}@{started.isoformat()}", started))
    return Observation(hub_id, at.astimezone(dt.UTC), activity, starts, running)


@dataclass
class DayActivity:
    """What the observations recorded for one hub and one UTC day."""

    hub: str
    day: dt.date
    users: dict[str, str] = field(default_factory=dict)  # user key -> latest activity seen that day
    servers: list[str] = field(default_factory=list)  # server keys started that day
    peak_servers: int = 0
    observations: int = 0  # observations made during the day
    first_observed: str | None = None
    last_observed: str | None = None

    def fold(self, observation: Observation) -> None:
        for who, when in observation.activity:
            if when.date() == self.day:
                self.users[who] = max(self.users.get(who, ""), when.isoformat())
        self.servers = sorted(set(self.servers) | {key for key, when in observation.starts if when.date() == self.day})
        if observation.at.date() == self.day:
            at = observation.at.isoformat()
            if at not in (self.first_observed, self.last_observed):
                self.observations += 1
            self.peak_servers = max(self.peak_servers, observation.running)
            self.first_observed = min(self.first_observed or at, at)
            self.last_observed = max(self.last_observed or at, at)

    def to_json(self) -> str:
        data = {k: v for k, v in self.__dict__.items() if k != "day"} | {"day": self.day.isoformat()}
        return json.dumps(data, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str | bytes) -> DayActivity:
        data = json.loads(text)
        return cls(**(data | {"day": dt.date.fromisoformat(data["day"])}))


@dataclass
class UsageLedger:
    """The per hub and day activity files under `folder` (any fsspec URL)."""

    storage: Storage
    folder: str

    def url(self, hub_id: str, day: dt.date) -> str:
        return f"{self.folder.rstrip('/')}/{hub_id}/{day.isoformat()}.json"

    def day(self, hub_id: str, day: dt.date) -> DayActivity | None:
        fs, path = self.storage.filesystem(self.url(hub_id, day))
        if not fs.exists(path):
            return None
        with fs.open(path, "rb") as f:
            return DayActivity.from_json(f.read())

    def record(self, observation: Observation, lookback: int = LOOKBACK_DAYS) -> list[DayActivity]:
        """Folds an observation into its day's file and the `lookback` days before. Safe to
        rerun: folding the same observation again leaves the files as they were."""
        out = []
        for back in range(lookback, -1, -1):
            day = observation.at.date() - dt.timedelta(days=back)
            activity = self.day(observation.hub, day) or DayActivity(observation.hub, day)
            activity.fold(observation)
            fs, path = self.storage.filesystem(self.url(observation.hub, day))
            fs.makedirs(fs._parent(path), exist_ok=True)
            with fs.open(path, "wb") as f:
                f.write(activity.to_json().encode())
            out.append(activity)
        return out

    def month(self, hub_id: str, month: dt.date) -> list[DayActivity]:
        """The recorded days of `month` (a date in it), oldest first; days never observed are absent."""
        start = month.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1)
        days = [start + dt.timedelta(days=i) for i in range((end - start).days)]
        return [a for a in (self.day(hub_id, d) for d in days) if a is not None]


def record_hub(
    api: HubApi | None, hub_id: str, ledger: UsageLedger, at: dt.datetime | None = None
) -> tuple[list[DayActivity], str | None]:
    """Asks the hub for its users and folds what it says into the ledger. A hub that cannot be
    asked gives its reason (the ledger is left as it was), never a count of zero."""
    if api is None:
        return [], "no hub-ops service token in the hub's values"
    try:
        users = list(api.users())
    except HubApiError as e:
        return [], str(e)
    return ledger.record(observe(hub_id, users, at or dt.datetime.now(dt.UTC))), None


def daily_row(activity: DayActivity | None, hub_id: str, day: dt.date, error: str | None = None) -> dict:
    """One row of the daily usage table. A hub that could not be asked says why; its counts
    are empty (None), never zero."""
    known = activity is not None and (activity.observations or activity.users or activity.servers)
    return {
        "hub": hub_id,
        "date": day.isoformat(),
        "active_users": len(activity.users) if known else None,
        "servers_started": len(activity.servers) if known else None,
        "peak_servers": activity.peak_servers if known and activity.observations else None,
        "observations": activity.observations if activity else 0,
        "status": (
            (f"partial: this observation failed: {error}" if known else f"not asked: {error}")
            if error
            else ("ok" if known else "no observation of this day")
        ),
    }


def monthly_active_users(days: Iterable[DayActivity]) -> int:
    """Users active at least once in the month (2i2c's MAU): distinct users over its days."""
    return len(set().union(*(set(d.users) for d in days)))
