"""`make demo`: every flow of hub_ops, end to end, on the local default.

Local default: the example fleet in deployments/, a SQLite Dagster instance and file://
storage under .data/demo, no cloud credentials. Each domain adds a step module here with
`run(ctx) -> list[str]` (the summary lines it prints).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# in the order they run; each is hub_ops_dev.demo.<name>
STEPS = ["fleet", "deploy", "backups", "costs", "decommission", "clusters", "alerts", "status"]


@dataclass
class DemoContext:
    repo: Path
    fleet_root: Path  # the example fleet
    data: Path  # everything the demo writes (file:// storage, Dagster home, scratch)
    facts: dict = field(default_factory=dict)  # what one step leaves for the next

    def scratch(self, name: str) -> Path:
        path = self.data / "scratch" / name
        path.mkdir(parents=True, exist_ok=True)
        return path
