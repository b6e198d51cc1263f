"""Demo: the Pangeo-like example's `legacy` hub retired into `prod`, on fixed dates.

The date is the `clock` resource's: the demo builds its resources in code with a fixed
date per run (as HUB_OPS_TODAY does for `make dev`), never through run config. The run is
for legacy's `hubs` partition, which gives it the hub's `hub_ops/hub` tag; a real retirement
says `dry_run: false` (the default is the notice).

No cluster runs on the local default, so the demo works on a copy of the example fleet
whose pangeo-hubs cluster is this machine (provider local, no API) and whose hubs keep
their homes in folders under the demo's data dir. Backups go to the fleet's gs:// bucket,
mapped to .data/demo/gcs. The activity gate cannot ask a hub that does not run, so the
retirement is forced with a stated reason, as an operator would; the teardown steps report
that nothing is deployed here.
"""

from __future__ import annotations

import os
import shutil

import yaml

from hub_ops_dev.demo import DemoContext

USERS = {"rabernat": 6, "jhamman": 4, "ocean-student": 3}


def run(ctx: DemoContext) -> list[str]:
    import dagster as dg

    from hub_ops.defs.decommission.jobs import decommission_job
    from hub_ops.defs.decommission.records import decommission_records, decommissioned_hubs
    from hub_ops.defs.shared.resources import (
        BackupRunnerResource,
        ClockResource,
        FleetResource,
        GitResource,
        JupyterHubResource,
        KubeResource,
        SopsResource,
        StorageResource,
    )

    fleet_root = ctx.scratch("decommission") / "fleet"
    shutil.copytree(ctx.fleet_root, fleet_root, dirs_exist_ok=True)
    homes = ctx.scratch("decommission") / "homes"
    path = fleet_root / "clusters/pangeo-hubs/cluster.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["provider"] = "local"
    doc["local"] = {"kubeconfig": None}
    del doc["gcp"]
    for hub in doc["hubs"]:
        hub["home"] = {"local_path": str(homes / hub["name"])}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    for user, n in USERS.items():
        for i in range(n):
            f = homes / "legacy" / user / "notebooks" / f"analysis-{i}.ipynb"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(f'{{"cells": [], "user": "{user}", "n": {i}}}\n' * 200)
        (homes / "legacy" / user / "data.zarr").mkdir()
        (homes / "legacy" / user / "data.zarr" / ".zarray").write_bytes(os.urandom(40_000))
    (homes / "prod" / "rabernat").mkdir(parents=True)
    (homes / "prod" / "rabernat" / "new-work.py").write_text("print('already on prod')\n")

    sops = SopsResource(age_key_file=str(ctx.fleet_root / "demo.agekey"))
    resources = {
        "fleet": FleetResource(root=str(fleet_root)),
        "git": GitResource(cache_dir=str(ctx.data / "cache")),
        "storage": StorageResource(local_root=str(ctx.data)),
        "sops": sops,
        "kube": KubeResource(sops=sops),
        "hub_api": JupyterHubResource(),
        "backup_runner": BackupRunnerResource(kube=KubeResource(sops=sops)),
    }
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

    def run_job(instance, today: str, **config):
        instance.add_dynamic_partitions("hubs", ["pangeo-hubs.legacy"])
        result = decommission_job.execute_in_process(
            run_config={"ops": {"plan_decommission": {"config": config}}, **quiet},
            instance=instance,
            resources={**resources, "clock": ClockResource(fixed_date=today)},
            partition_key="pangeo-hubs.legacy",
            raise_on_error=False,
        )
        if not result.success:
            errors = [
                e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"
            ]
            raise RuntimeError("decommission_job failed: " + "\n".join(errors))
        return result

    out = []
    with dg.DagsterInstance.get() as instance:
        notice = run_job(instance, "2026-11-30")  # dry_run (the default): the notice
        report = (
            next(
                e.event_specific_data.materialization
                for e in notice.all_events
                if e.event_type_value == "ASSET_MATERIALIZATION"
            )
            .metadata["report"]
            .value
        )
        out.append("notice, 2026-11-30 (14 days before):")
        out += [f"  {r.data['what']}: {r.data['detail']}" for r in report.records]
        run_job(
            instance,
            "2026-12-14",
            dry_run=False,
            force_running_servers_reason="demo: no hub runs on this machine to ask",
        )
        record = decommission_records(instance)["pangeo-hubs/legacy"]
        out.append("retired, 2026-12-14:")
        out += [f"  {step}: {result}" for step, result in record.steps]
        moved = sorted(p.name for p in (homes / "prod").iterdir())
        out.append(f"prod's homes now: {', '.join(moved)} (rabernat's new-work.py kept beside the migrated files)")
        out.append(f"deploys and nightly backups now skip: {decommissioned_hubs(instance)}")
        run_job(instance, "2027-03-14", dry_run=False)
        record = decommission_records(instance)["pangeo-hubs/legacy"]
        out.append(f"2027-03-14: {record.state} ({record.snapshots_forgotten} snapshot(s) forgotten)")
    return out
