"""deploy_on_push's cursor: the last planned head and the cluster runs still to request.

Dagster creates a run in 0.4-0.8 s (its event log, its lookups), so a push touching 100
clusters cannot have all its runs created in one tick that stays under 5 s. The sensor hands
out at most `runs_per_tick` per tick, strictly first in first out: what it planned but has not
requested waits here, and a later push is appended after it, so each cluster's runs are
created (and, under the per-cluster run limit, run) in push order.

The cursor lives in Dagster's database, one value per tick, so it is compact JSON: one entry
per push (base, head, subject) with its clusters and their hub names, e.g.
{"head": "<sha>", "fetched": 1764755000, "pending": [{"base": "<sha>", "head": "<sha>",
"subject": "...", "total": 100, "runs": [["c001", ["staging", "prod"]], ...]}]}.
A cursor written before pacing (a plain commit sha) reads as that head with nothing pending.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")  # SHA-1 or SHA-256


class CursorError(ValueError):
    """The stored cursor cannot be read; the message says what is wrong with it."""


@dataclass
class PendingRun:
    """One cluster run of a planned push, not yet requested."""

    base: str
    head: str
    subject: str
    total: int  # cluster runs the push planned, for "requested 5 of 100"
    cluster: str
    hubs: list[str]  # hub names on this cluster, in deploy order

    def hub_ids(self) -> list[str]:
        return [f"{self.cluster}/{h}" for h in self.hubs]


@dataclass
class DeployCursor:
    head: str  # the last commit planned (its runs requested or pending)
    fetched: float = 0.0  # epoch seconds of the last fetch of the watched branch
    pending: list[PendingRun] = field(default_factory=list)

    def add_push(self, base: str, head: str, subject: str, hub_ids_by_cluster: dict[str, list[str]]) -> None:
        """Queue one run per cluster of a planned push, after everything already pending."""
        total = len(hub_ids_by_cluster)
        for cluster, hub_ids in hub_ids_by_cluster.items():
            hubs = [h.split("/", 1)[1] for h in hub_ids]
            self.pending.append(PendingRun(base, head, subject, total, cluster, hubs))

    def take(self, n: int) -> list[PendingRun]:
        """The first n pending runs, removed from the queue."""
        taken, self.pending = self.pending[:n], self.pending[n:]
        return taken

    def dumps(self) -> str:
        pushes: list[dict] = []
        for run in self.pending:
            if not pushes or (pushes[-1]["head"], pushes[-1]["base"]) != (run.head, run.base):
                pushes.append(
                    {"base": run.base, "head": run.head, "subject": run.subject, "total": run.total, "runs": []}
                )
            pushes[-1]["runs"].append([run.cluster, run.hubs])
        doc = {"head": self.head, "fetched": round(self.fetched), "pending": pushes}
        return json.dumps(doc, separators=(",", ":"))


def loads(text: str) -> DeployCursor:
    """The cursor `text` holds; a plain sha (the cursor before pacing) is that head with
    nothing pending. Raises CursorError saying what is wrong."""
    text = text.strip()
    if SHA.match(text):
        return DeployCursor(head=text)
    try:
        doc = json.loads(text)
        cursor = DeployCursor(head=_sha(doc["head"], "head"), fetched=float(doc.get("fetched", 0)))
        for push in doc["pending"]:
            base, head = _sha(push["base"], "pending base"), _sha(push["head"], "pending head")
            for cluster, hubs in push["runs"]:
                if not isinstance(cluster, str) or not all(isinstance(h, str) for h in hubs):
                    raise CursorError(f"pending run of {head[:12]} is not [cluster, [hub, ...]]: {[cluster, hubs]!r}")
                cursor.pending.append(PendingRun(base, head, str(push["subject"]), int(push["total"]), cluster, hubs))
    except CursorError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CursorError(f"not a commit sha nor the JSON deploy_on_push writes ({type(e).__name__}: {e})") from None
    return cursor


def _sha(value, what: str) -> str:
    if not isinstance(value, str) or not SHA.match(value):
        raise CursorError(f"{what} is not a commit sha: {value!r}")
    return value
