"""`python -m hub_ops_tests.browser.flows WORKDIR`: the demo's backup and cost flows, then
fleet_status, on the instance and fleet copy `dagster dev` serves from WORKDIR (see
dagster_ui.DagsterDev). A process of its own: hub_ops reads its settings (HUB_OPS_FLEET,
HUB_OPS_DATA) once per process, and the test process already has its own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

COST_ROWS_PER_DAY = 100  # the demo's 1,000 tell nothing more here and cost seconds


def main(workdir: Path, repo: Path) -> None:
    os.environ.update(
        {
            "HUB_OPS_ENV": "local",
            "HUB_OPS_FLEET": str(workdir / "fleet"),
            "HUB_OPS_DATA": str(workdir / "data"),
            "DAGSTER_HOME": str(workdir / "dagster_home"),
        }
    )
    from hub_ops.definitions import defs
    from hub_ops_dev.demo import DemoContext, backups, costs

    ctx = DemoContext(repo=repo, fleet_root=workdir / "fleet", data=workdir / "data")
    costs.ROWS_PER_DAY = COST_ROWS_PER_DAY
    for step in (backups, costs):
        print("\n".join(step.run(ctx)))
    import dagster as dg

    result = defs().resolve_job_def("fleet_status_job").execute_in_process(instance=dg.DagsterInstance.get())
    assert result.success


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
