"""deploy_on_push: plan what each push to the watched branch changed, and deploy it.

One run per cluster per batch: each tick plans cursor..head as one range (however many
commits arrived, 20 or 1), then requests one deploy_job run per cluster in the plan with
run_key `deploy-<head>-<cluster>`. A tick re-evaluated after a crash asks for the same keys,
so Dagster launches nothing twice; a later tick plans from the new cursor only. Runs are
tagged `hub_ops/cluster`, which dagster.yaml limits to one at a time per cluster, so a
cluster's deploys happen in push order while clusters proceed independently.

The fleet a tick plans with is parsed once per commit (hub_ops.deploy.fleet_cache): a push
that changes no fleet.yaml, cluster.yaml or Chart.yaml reuses the previous commit's.

The cursor is the last planned commit. The first tick starts watching from the head
without deploying anything. A force-push that drops the cursor commit plans from the
merge-base and says so. A fleet config that is invalid at head is reported and the cursor
stays, so the fix is planned together with what it fixes.
"""

import dagster as dg

from hub_ops.clients.git import GitError
from hub_ops.defs.decommission.records import decommissioned_hubs
from hub_ops.defs.deploy.jobs import deploy_job, hubs_tag
from hub_ops.defs.shared.resources import FleetResource, GitResource
from hub_ops.deploy.fleet_cache import fleet_for_plan, remember_fleet
from hub_ops.fleet import FleetConfigError
from hub_ops.fleet.planner import plan_range


@dg.sensor(
    job=deploy_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Polls the fleet repo's watched branch; plans each push and deploys it, one run per cluster.",
)
def deploy_on_push(context: dg.SensorEvaluationContext, fleet: FleetResource, git: GitResource):
    try:
        remote = git.remote_for(fleet.root)
        head = remote.fetch()
    except (GitError, FleetConfigError) as e:
        return dg.SkipReason(f"cannot read the fleet repo: {e}")
    cursor = context.cursor
    if not cursor or cursor == head:
        remember_fleet(remote, head)  # parsed now, while idle, for the tick after the next push
    if not cursor:
        return dg.SensorResult(
            skip_reason=f"started watching {remote.branch} at {head[:12]}; the next push is deployed", cursor=head
        )
    if cursor == head:
        return dg.SkipReason(f"no new commits on {remote.branch} (head {head[:12]})")

    repo = remote.repo
    base, note = cursor, ""
    if not repo.has_commit(cursor):
        return dg.SensorResult(
            skip_reason=f"cursor commit {cursor[:12]} is unknown to the repo (history rewritten and "
            f"collected?): watching from {head[:12]}; launch deploy_job for what needs deploying",
            cursor=head,
        )
    if not repo.is_ancestor(cursor, head):
        base = repo.merge_base(cursor, head) or cursor
        note = f"force-push: {cursor[:12]} is no longer on {remote.branch}; planning from the merge-base {base[:12]}. "
        context.log.warning(note)
    commits = repo.commits(base, head)
    changes = repo.changed_paths(base, head)
    try:
        fleet_at_head = fleet_for_plan(remote, head, base, changes)
    except FleetConfigError as e:
        return dg.SkipReason(f"{note}fleet config invalid at {head[:12]}, nothing deployed until it is fixed:\n{e}")

    plan = plan_range(
        fleet_at_head,
        changes,
        lambda p: repo.show(base, p),
        skip=decommissioned_hubs(context.instance),
    )
    summary = f"{note}{len(commits)} commit(s) {base[:12]}..{head[:12]}"
    if plan.removed:
        context.log.warning(f"{summary}: removed from config, needs a decommission run: {', '.join(plan.removed)}")
    if not plan.support and not plan.hub_ids():
        ignored = f" (changed: {', '.join(plan.ignored[:10])})" if plan.ignored else ""
        removed = f"; removed hubs need a decommission run: {', '.join(plan.removed)}" if plan.removed else ""
        return dg.SensorResult(skip_reason=f"{summary}: nothing to deploy{ignored}{removed}", cursor=head)

    requests = []
    subject = repo.subject(head)[:200]
    for cluster in plan.clusters():
        requests.append(
            dg.RunRequest(
                run_key=f"deploy-{head[:12]}-{cluster}",
                run_config={
                    "ops": {
                        "plan_deploy": {
                            # a launch defaults to a dry run; what the sensor plans is deployed
                            "config": {"base": base, "commit": head, "clusters": [cluster], "dry_run": False}
                        }
                    }
                },
                # what the runs list shows before the run starts (its plan step confirms them)
                tags={
                    "hub_ops/kind": "deploy",
                    "hub_ops/dry_run": "false",
                    "hub_ops/hubs": hubs_tag([h for h in plan.hub_ids() if h.split("/", 1)[0] == cluster]),
                    "hub_ops/cluster": cluster,
                    "hub_ops/commit": head[:12],
                    "hub_ops/subject": subject,
                },
            )
        )
    context.log.info(f"{summary}: {len(requests)} cluster run(s): {', '.join(plan.clusters())}")
    return dg.SensorResult(run_requests=requests, cursor=head)
