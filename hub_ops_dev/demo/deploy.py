"""Demo: the deploy pipeline on the sample change, as a dry run through Dagster; then, when
the local stack is prepared, local-demo deployed for real (deploy_local.py).

deploy_on_push is ticked once to show it picking the push up; deploy_job plans the commit the
fleet step made, renders every release offline (secrets decrypted in memory with the example
fleet's demo age key) and validates the manifests for Kubernetes 1.30. Without the cached
kube-apiserver build the dry runs are all, and one line says how to get the real deploy.
"""

from __future__ import annotations

from hub_ops_dev.demo import DemoContext, deploy_local
from hub_ops_dev.stack.hub_cluster import prepared

NO_STACK = (
    "dry runs only: `make stack-prepare` builds the local kube-apiserver once (~4 min, cached in ~/.cache/hub_ops), "
    "then `make demo` deploys local-demo's hubs for real"
)


def run(ctx: DemoContext) -> list[str]:
    import dagster as dg

    from hub_ops.defs.deploy.jobs import deploy_job
    from hub_ops.defs.deploy.sensors import deploy_on_push
    from hub_ops.defs.shared.resources import FleetResource, GitResource, JupyterHubResource, KubeResource, SopsResource

    repo = ctx.scratch("fleet-repo")  # the fleet step committed a sample change here
    resources = {
        "fleet": FleetResource(root=str(repo)),
        "git": GitResource(remote=str(repo), branch="main", cache_dir=str(ctx.data / "cache")),
        "sops": SopsResource(age_key_file=str(ctx.fleet_root / "demo.agekey")),
        "kube": KubeResource(sops=SopsResource(age_key_file=str(ctx.fleet_root / "demo.agekey"))),
        "hub_api": JupyterHubResource(),
    }
    out = []
    with dg.DagsterInstance.get() as instance:
        base = ctx.facts["sample_base"]
        context = dg.build_sensor_context(
            cursor=base, instance=instance, resources={"fleet": resources["fleet"], "git": resources["git"]}
        )
        result = deploy_on_push(context)
        out.append(
            f"deploy_on_push from {base[:12]}: {len(result.run_requests)} run request(s): "
            + ", ".join(f"{r.run_key}" for r in result.run_requests)
        )
        for request in result.run_requests:
            config = request.run_config
            config["ops"]["plan_deploy"]["config"]["dry_run"] = True
            config["loggers"] = {"console": {"config": {"log_level": "WARNING"}}}  # the summary below says it
            run = deploy_job.execute_in_process(
                run_config=config,
                instance=instance,
                resources=resources,
                tags={**request.tags, "hub_ops/demo": "dry-run"},
                raise_on_error=False,
            )
            out.append(
                f"deploy_job (dry run) for {request.tags['hub_ops/cluster']}: "
                f"{'succeeded' if run.success else 'FAILED'}"
            )
            for event in run.all_events:
                if event.event_type_value == "STEP_OUTPUT" and "releases" in (event.event_specific_data.metadata or {}):
                    for row in event.event_specific_data.metadata["releases"].records:
                        r = row.data
                        out.append(f"  {r['release']}: {r['status']}, {r.get('detail') or ''}".rstrip(", "))
            if not run.success:
                raise RuntimeError(f"dry run failed for {request.tags['hub_ops/cluster']}")
    if not prepared():
        out.append(NO_STACK)
        return out
    return out + deploy_local.run(ctx, resources)
