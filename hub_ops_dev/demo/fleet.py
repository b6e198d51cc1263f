"""Demo: validate the example fleet, plan a sample change as a git range, load Dagster.

The sample repo is the example fleet plus an AWS (EKS) and an Azure (AKS) cluster
(hub_ops_dev.demo.clouds); the change touches the AWS cluster's science hub too, so the plan and
the deploy step's dry run show an aws cluster (rendered offline: no AWS credentials needed).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hub_ops.cli.fleet import format_plan
from hub_ops.clients.git import GitRepo
from hub_ops.fleet import load_fleet, validate_fleet
from hub_ops.fleet.planner import plan_range
from hub_ops_dev.demo import DemoContext
from hub_ops_dev.demo.clouds import add_cloud_clusters


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def run(ctx: DemoContext) -> list[str]:
    out = []
    fleet, problems = validate_fleet(ctx.fleet_root)
    if problems:
        raise RuntimeError("example fleet invalid:\n" + "\n".join(map(str, problems)))
    out.append(
        f"validated {len(fleet.clusters)} clusters, {sum(1 for _ in fleet.hubs())} hubs: "
        + ", ".join(h.id for h in fleet.hubs())
    )

    # a sample change, committed to a scratch copy of the fleet repo
    repo = ctx.scratch("fleet-repo")
    shutil.copytree(ctx.fleet_root, repo, dirs_exist_ok=True)
    add_cloud_clusters(repo)
    with_clouds, problems = validate_fleet(repo)
    if problems:
        raise RuntimeError("demo fleet with AWS and Azure clusters invalid:\n" + "\n".join(map(str, problems)))
    out.append(
        f"the sample repo adds aws-hubs (EKS) and azure-hubs (AKS): {len(with_clouds.clusters)} clusters, "
        f"{sum(1 for _ in with_clouds.hubs())} hubs, providers "
        + ", ".join(sorted({c.provider for c in with_clouds.clusters.values()}))
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=demo", "-c", "user.email=demo@example.org", "add", "-A")
    _git(repo, "-c", "user.name=demo", "-c", "user.email=demo@example.org", "commit", "-q", "-m", "fleet")
    base = _git(repo, "rev-parse", "HEAD")
    prod = repo / "clusters/pangeo-hubs/prod.values.yaml"
    prod.write_text(prod.read_text().replace("limit: 16G", "limit: 24G"))
    (repo / "charts/daskhub/values.yaml").write_text(
        (repo / "charts/daskhub/values.yaml").read_text().replace("workerCoresLimit: 4", "workerCoresLimit: 6")
    )
    science = repo / "clusters/aws-hubs/science.values.yaml"
    science.write_text(science.read_text().replace("mem_limit: 2G", "mem_limit: 4G"))
    cluster_yaml = repo / "clusters/community-hubs/cluster.yaml"
    text = cluster_yaml.read_text()
    start = text.index("- name: climatematch")
    end = text.index("- name: uni")
    cluster_yaml.write_text(text[:start] + text[end:])  # remove a hub entry
    _git(
        repo,
        "-c",
        "user.name=demo",
        "-c",
        "user.email=demo@example.org",
        "commit",
        "-q",
        "-am",
        "bigger prod pods, more dask cores, more memory on AWS science, drop climatematch",
    )
    git = GitRepo(repo)
    plan = plan_range(load_fleet(repo, check_files=False), git.changed_paths(base, "HEAD"), lambda p: git.show(base, p))
    out.append(
        "plan for: bigger prod pods, more dask cores per worker, more memory on aws-hubs/science, "
        "climatematch removed from cluster.yaml"
    )
    out += ["  " + line for line in format_plan(plan).splitlines()]
    ctx.facts["sample_plan"] = plan
    ctx.facts["sample_base"] = base

    from hub_ops.definitions import defs as load_definitions

    defs = load_definitions()
    repo_def = defs.get_repository_def()
    out.append(
        f"Dagster definitions load: {len(repo_def.assets_defs_by_key)} assets, {len(repo_def.get_all_jobs())} jobs, "
        f"{len(repo_def.sensor_defs)} sensors, {len(repo_def.schedule_defs)} schedules"
    )
    return out
