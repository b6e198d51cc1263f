"""Demo: fleet_status after every flow, the page an operator opens first.

Materialized last so its rows hold what the other steps recorded: local-demo's releases (and
the drift made on one of them) when the deploy step ran on the local stack, the backups of
local-demo's homes, 30 days of costs, the retired hub, the open alerts.
"""

from __future__ import annotations

from hub_ops_dev.demo import DemoContext

SHOWN = ["hub", "state", "chart version", "git sha", "sync", "problems"]


def run(ctx: DemoContext) -> list[str]:
    import dagster as dg

    from hub_ops.definitions import defs

    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = (
        defs()
        .resolve_job_def("fleet_status_job")
        .execute_in_process(instance=dg.DagsterInstance.get(), run_config=quiet)
    )
    metadata = result.asset_materializations_for_node("fleet_status")[0].metadata
    rows = [r.data for r in metadata["hubs"].records if r.data["hub"].startswith("local-demo/")]
    out = [f"fleet_status (run {result.run_id[:8]}): {metadata['summary'].value}", "local-demo's rows:"]
    out += [
        "  " + ", ".join(f"{column}: {row[column]}" for column in SHOWN if row.get(column) not in (None, ""))
        for row in rows
    ]
    return out
