"""Demo, with the local stack prepared: local-demo deployed for real, a drift made and caught.

The kube-apiserver and the stand-in kubelet (hub pods run as JupyterHub processes) start
for this step and stop at its end. A commit points local-demo at that apiserver and lets
its hubs spawn user servers as local processes; deploy_on_push plans it, and deploy_job
deploys support, staging, then workshop, each hub health-checked (a user server started and
stopped) and recorded in hub_releases. Then someone upgrades the workshop release by hand
with helm, and release_checks_job's hub_releases_in_sync names it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from hub_ops_dev.demo import DemoContext

CLUSTER = "local-demo"
DRIFTED = "local-demo/workshop"
# the hubs' user servers as local processes: jupyterhub-singleuser from the kubelet's image
# PATH, --allow-root since the kubelet may run as root (the values only the demo's copy gets)
SPAWN_LOCALLY = {
    "JupyterHub": {"spawner_class": "simple"},
    "Spawner": {"cmd": ["jupyterhub-singleuser"], "args": ["--allow-root"], "start_timeout": 60},
}
HAND_MADE_CHANGE = {"jupyterhub": {"hub": {"config": {"Spawner": {"mem_limit": "2G"}}}}}
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the summary lines say it


def _commit(repo: Path, message: str) -> str:
    ident = ["-c", "user.name=demo", "-c", "user.email=demo@example.org"]
    subprocess.run(["git", "-C", str(repo), *ident, "commit", "-q", "-am", message], check=True)
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


def point_at_local_cluster(repo: Path, kubeconfig: Path) -> str:
    """Commit local-demo's kubeconfig and local spawner to the sample repo; returns the sha."""
    folder = repo / "clusters" / CLUSTER
    cluster = yaml.safe_load((folder / "cluster.yaml").read_text())
    cluster["local"]["kubeconfig"] = str(kubeconfig)
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
    common = yaml.safe_load((folder / "common.values.yaml").read_text())
    common["jupyterhub"].setdefault("hub", {}).setdefault("config", {}).update(SPAWN_LOCALLY)
    (folder / "common.values.yaml").write_text(yaml.safe_dump(common, sort_keys=False))
    return _commit(repo, f"{CLUSTER}: deploy to the local kube-apiserver; user servers as local processes")


def run(ctx: DemoContext, resources: dict) -> list[str]:
    import dagster as dg

    from hub_ops.fleet import load_fleet
    from hub_ops_dev.demo.drift import release_checks, upgrade_by_hand
    from hub_ops_dev.stack.hub_api import ClusterJupyterHubResource
    from hub_ops_dev.stack.hub_cluster import HubCluster

    repo = ctx.scratch("fleet-repo")
    fleet = load_fleet(repo, check_files=False)
    hubs = fleet.clusters[CLUSTER].hubs
    namespaces = {fleet.clusters[CLUSTER].support.namespace} | {h.effective_namespace for h in hubs}
    out = [f"local stack prepared: starting kube-apiserver + a kubelet running hub pods as processes for {CLUSTER}"]
    with HubCluster(ctx.data / "stack", namespaces.__contains__) as stack:
        before = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()
        sha = point_at_local_cluster(repo, stack.kube.kubeconfig)
        resources = {**resources, "hub_api": ClusterJupyterHubResource(kubeconfig=str(stack.kube.kubeconfig))}
        with dg.DagsterInstance.get() as instance:
            run = _deploy_push(instance, resources, before, sha, out)
            if not run.success:
                raise RuntimeError(f"deploy_job for {CLUSTER} failed: {_failures(run)}\n{_hub_logs(stack, hubs)}")
            ctx.facts["local_deploy"] = {"run_id": run.run_id, "sha": sha, "releases": _releases(instance, hubs, out)}
            before_drift = release_checks(instance, resources)
            out.append(f"hub_releases_in_sync: {before_drift.description}")
            revision = upgrade_by_hand(repo, DRIFTED, stack.kube.kubeconfig, HAND_MADE_CHANGE)
            out.append(
                f"then, behind hub_ops's back: helm upgrade --reuse-values {DRIFTED} "
                f"--set jupyterhub.hub.config.Spawner.mem_limit=2G (revision {revision})"
            )
            after_drift = release_checks(instance, resources)
            out.append(f"hub_releases_in_sync: {after_drift.description}")
            rows = [r.data for r in after_drift.metadata["hubs"].records]
            out += [f"  {r['hub']}: {r['state']}: {r['detail']}" for r in rows]
            ctx.facts["local_drift"] = {"before": before_drift, "after": after_drift}
            if not before_drift.passed or after_drift.passed:
                raise RuntimeError(f"expected in sync, then {DRIFTED} drifted: got {rows}")
    out.append(f"stopped the kube-apiserver and the hub processes of {CLUSTER}")
    return out


def _deploy_push(instance, resources: dict, before: str, sha: str, out: list[str]):
    """deploy_on_push ticked from `before`: the one run it asks for (local-demo), executed."""
    import dagster as dg

    from hub_ops.defs.deploy.jobs import deploy_job
    from hub_ops.defs.deploy.sensors import deploy_on_push

    sensor_resources = {"fleet": resources["fleet"], "git": resources["git"]}
    result = deploy_on_push(dg.build_sensor_context(cursor=before, instance=instance, resources=sensor_resources))
    [request] = [r for r in result.run_requests if r.tags.get("hub_ops/cluster") == CLUSTER]
    out.append(f"deploy_on_push from {before[:12]} to {sha[:12]}: run {request.run_key} (dry_run: false)")
    return deploy_job.execute_in_process(
        run_config={**request.run_config, **QUIET},
        instance=instance,
        resources=resources,
        tags={**request.tags, "hub_ops/demo": "local-stack"},
        raise_on_error=False,
    )


def _releases(instance, hubs, out: list[str]) -> dict:
    from hub_ops.defs.deploy.assets import latest_hub_release

    recorded = {h.id: latest_hub_release(instance, h.partition_key) for h in hubs}
    for hub_id, rec in recorded.items():
        took = f"{rec.duration_s:.1f} s"
        out.append(f"  {hub_id}: {rec.status} at helm revision {rec.helm_revision} in {took}; health: {rec.health}")
    return recorded


def _failures(run) -> str:
    return "; ".join(
        str(e.event_specific_data.error.message).strip() for e in run.all_events if e.event_type_value == "STEP_FAILURE"
    )


def _hub_logs(stack, hubs) -> str:
    return "\n".join(stack.kubelet.logs(h.effective_namespace, tail=2000) for h in hubs)
