"""deploy_on_push tick time on the 2i2c fleet (30 clusters, 171 hubs) with 20 new commits.

A bare remote holds the fixture; 20 commits, each editing a values file of a different
cluster, are pushed after the cursor; one tick fetches, exports the fleet at head, loads
it, plans the range and builds the run requests. Anchors, in the same process: a bare
`git fetch` of the 20 commits, PyYAML parsing every cluster.yaml, and planning alone.
Target: a tick <= 1 s (Dagster's limit is 60 s).
"""

from __future__ import annotations

import argparse
import glob
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "hub_ops_tests" / "data" / "2i2c-fleet"
ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "b@example.org",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "b@example.org",
}


def git(cwd: Path, *args: str) -> str:
    import os

    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **ENV}
    ).stdout.strip()


def make_repo(tmp: Path, commits: int) -> tuple[Path, Path, str]:
    work, remote = tmp / "work", tmp / "remote.git"
    shutil.copytree(FIXTURE, work)
    git(tmp, "init", "-q", "--bare", "-b", "main", str(remote))
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "fleet")
    git(work, "remote", "add", "origin", str(remote))
    git(work, "push", "-q", "origin", "main")
    cursor = git(work, "rev-parse", "HEAD")
    clusters = sorted(p.parent.name for p in (work / "config" / "clusters").glob("*/cluster.yaml"))
    for i in range(commits):
        cluster = clusters[i % len(clusters)]
        values = sorted((work / "config" / "clusters" / cluster).glob("*.values.yaml"))
        plain = next(v for v in values if "secret" not in v.name)
        with open(plain, "a") as f:
            f.write(f"\n# bench change {i}\n")
        git(work, "commit", "-qam", f"change {i} in {cluster}")
    git(work, "push", "-q", "origin", "main")
    return work, remote, cursor


def tick_once(work: Path, remote: Path, cursor: str, cache: Path) -> tuple[float, int]:
    import dagster as dg

    from hub_ops.defs.deploy.sensors import deploy_on_push
    from hub_ops.defs.shared.resources import FleetResource, GitResource

    resources = {
        "fleet": FleetResource(root=str(work)),
        "git": GitResource(remote=str(remote), branch="main", cache_dir=str(cache)),
    }
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources)
        start = time.perf_counter()
        result = deploy_on_push(context)
        elapsed = time.perf_counter() - start
    return elapsed, len(getattr(result, "run_requests", None) or [])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/deploy.py", description=__doc__)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    import yaml

    from hub_ops.clients.git import GitRepo
    from hub_ops.fleet import load_fleet
    from hub_ops.fleet.planner import plan_range

    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp_name:
        tmp = Path(tmp_name)
        work, remote, cursor = make_repo(tmp, args.commits)

        cold, warm, fetch, parse, plan = [], [], [], [], []
        for i in range(args.repeat):
            # a fresh cache each time: clone + export at head (a new pod, a cleared cache)
            t, requests = tick_once(work, remote, cursor, tmp / f"cache-cold-{i}")
            cold.append(t)
            # a warm mirror that still has to fetch the 20 commits and export the new head
            warm_cache = tmp / f"cache-warm-{i}"
            git(work, "push", "-q", "origin", f"{cursor}:refs/heads/main", "--force")
            tick_once(work, remote, cursor, warm_cache)
            git(work, "push", "-q", "origin", "main")
            t, requests = tick_once(work, remote, cursor, warm_cache)
            warm.append(t)

            mirror = tmp / f"fetch-{i}.git"
            git(tmp, "init", "-q", "--bare", str(mirror))
            git(mirror, "fetch", "-q", str(remote), f"{cursor}:refs/heads/base")
            start = time.perf_counter()
            git(mirror, "fetch", "-q", str(remote), "+refs/heads/main:refs/heads/main")
            fetch.append(time.perf_counter() - start)

            start = time.perf_counter()
            for path in glob.glob(str(work / "config/clusters/*/cluster.yaml")):
                with open(path) as f:
                    yaml.safe_load(f)
            parse.append(time.perf_counter() - start)

            fleet = load_fleet(work, check_files=False)
            repo = GitRepo(work)
            changes = repo.changed_paths(cursor, "HEAD")
            start = time.perf_counter()
            plan_range(fleet, changes, lambda p: repo.show(cursor, p))
            plan.append(time.perf_counter() - start)

    med = statistics.median
    print(f"2i2c fleet, {args.commits} new commits, {requests} cluster run requests, median of {args.repeat}")
    rows = [
        ("tick, warm mirror (fetch 20 commits, export, load, plan)", med(warm)),
        ("tick, cold cache (clone the mirror too)", med(cold)),
        ("anchor: git fetch of the 20 commits alone", med(fetch)),
        ("anchor: PyYAML safe_load of every cluster.yaml", med(parse)),
        ("anchor: plan_range alone on the loaded fleet", med(plan)),
    ]
    for name, value in rows:
        print(f"  {name:<58} {value * 1000:8.1f} ms")
    print(
        f"  ratio warm tick / PyYAML parse anchor: {med(warm) / med(parse):.2f}x;"
        f" warm tick / git fetch anchor: {med(warm) / med(fetch):.1f}x"
    )
    ok = med(warm) <= 1.0 and med(cold) <= 1.0
    print(f"  target tick <= 1 s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
