"""Demo: materialize the clusters asset on the example fleet with the local resources.

No cloud credentials here, so the gcp clusters come out "not reachable: no credentials"
and local-demo "no API configured": the table and the check results say so plainly.
"""

from __future__ import annotations

from hub_ops_dev.demo import DemoContext


def run(ctx: DemoContext) -> list[str]:
    import dagster as dg

    from hub_ops.definitions import defs
    from hub_ops_dev.demo.text import table_lines

    job = defs().resolve_job_def("clusters_refresh_job")
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the summary below says it all
    result = job.execute_in_process(instance=dg.DagsterInstance.get(), run_config=quiet, raise_on_error=True)
    materialization = result.asset_materializations_for_node("clusters")[0]
    out = [
        f"clusters asset materialized (run {result.run_id[:8]}): "
        f"{materialization.metadata['reachable'].value} of "
        f"{materialization.metadata['total'].value} clusters reachable",
        "",
    ]
    out += table_lines(materialization.metadata["clusters"].value)
    out.append("")
    for check in sorted(result.get_asset_check_evaluations(), key=lambda e: e.check_name):
        verdict = "passed" if check.passed else f"did not pass ({check.severity.value} severity)"
        out.append(f"check {check.check_name}: {verdict}: {check.description}")
    ctx.facts["clusters_run_id"] = result.run_id
    return out
