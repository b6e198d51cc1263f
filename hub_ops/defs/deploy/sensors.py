"""deploy_on_push: plan what each push to the watched branch changed, and deploy it.

One run per cluster per batch: a tick that sees a new head plans cursor..head as one range
(however many commits arrived, 20 or 1) into one deploy_job run per cluster, with run_key
`deploy-<head>-<cluster>`. Runs are tagged `hub_ops/cluster`, which dagster.yaml limits to
one at a time per cluster, so a cluster's deploys happen in the order their runs are created
while clusters proceed independently.

Pacing (hub_ops.deploy.pacing): Dagster takes 0.4-0.8 s to create a run, so a tick requests
at most fleet.yaml `deploy.runs_per_tick` runs; the rest wait in the cursor and go out first
in first out, before any run of a later push. A tick re-evaluated after a crash (cursor not
saved) asks for the same keys, so Dagster launches nothing twice.

The sensor ticks every 10 s, so 100 pending runs at 5 a tick are all created within ~3 min
(at 30 s it took 10 min). Fetching the remote is what costs at idle (a git fetch per tick, to
GitHub in production), so a tick with runs pending only hands them out and fetches at most
every FETCH_EVERY_S; an idle tick fetches, and an idle sensor's new push waits <= 10 s.

The fleet a tick plans with is parsed once per commit (hub_ops.deploy.fleet_cache): a push
that changes no fleet.yaml, cluster.yaml or Chart.yaml reuses the previous commit's.

The first tick starts watching from the head without deploying anything. A force-push that
drops the cursor commit plans from the merge-base and says so (runs of the dropped commit
still pending go out first, as they would have had they been created at once). A fleet
config that is invalid at head is reported and the cursor's head stays, so the fix is planned
together with what it fixes.
"""

import time

import dagster as dg

from hub_ops.clients.git import FleetRemote, GitError
from hub_ops.defs.decommission.records import decommissioned_hubs
from hub_ops.defs.deploy.jobs import deploy_job, hubs_tag
from hub_ops.defs.shared.resources import FleetResource, GitResource
from hub_ops.deploy.fleet_cache import fleet_for_plan, remember_fleet
from hub_ops.deploy.pacing import CursorError, DeployCursor, PendingRun, loads
from hub_ops.fleet import FleetConfigError
from hub_ops.fleet.loader import load_settings
from hub_ops.fleet.planner import plan_range

TICK_INTERVAL_S = 10
FETCH_EVERY_S = 30  # while runs are pending; idle ticks fetch every tick


@dg.sensor(
    job=deploy_job,
    minimum_interval_seconds=TICK_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Polls the fleet repo's watched branch; plans each push and deploys it, one run per cluster, "
    "fleet.yaml deploy.runs_per_tick runs a tick (the rest wait in the cursor, first in first out).",
)
def deploy_on_push(context: dg.SensorEvaluationContext, fleet: FleetResource, git: GitResource):
    try:
        state = loads(context.cursor) if context.cursor else None
    except CursorError as e:
        return dg.SkipReason(
            f"cursor unreadable, nothing requested: {e}. Reset it (`dagster sensor cursor deploy_on_push "
            "--delete`: the next tick watches from the head) and launch deploy_job for what needs deploying"
        )
    try:
        runs_per_tick = load_settings(fleet.root).deploy.runs_per_tick
        remote = git.remote_for(fleet.root)
    except (GitError, FleetConfigError) as e:
        return dg.SkipReason(f"cannot read the fleet repo: {e}")
    now = time.time()
    notes: list[str] = []
    if state is None or not state.pending or now - state.fetched >= FETCH_EVERY_S:
        try:
            head = remote.fetch()
        except GitError as e:
            if state is None or not state.pending:
                return dg.SkipReason(f"cannot read the fleet repo: {e}")
            head, notes = state.head, [f"cannot fetch {remote.branch} (handing out what is pending): {e}"]
        else:
            if state is None:
                remember_fleet(remote, head)  # parsed now, while idle, for the tick after the next push
                cursor = DeployCursor(head=head, fetched=now)
                skip = f"started watching {remote.branch} at {head[:12]}; the next push is deployed"
                return dg.SensorResult(skip_reason=skip, cursor=cursor.dumps())
            state.fetched = now
            if head != state.head:
                notes.append(_plan_push(context, remote, state, head))
            elif not state.pending:
                remember_fleet(remote, head)
                # the cursor is left as it is: `fetched` only matters while runs are pending
                return dg.SkipReason(f"no new commits on {remote.branch} (head {head[:12]})")
    runs = state.take(runs_per_tick)
    if runs:
        notes.append(_requested(runs, state.pending))
    message = "\n".join(notes)
    if not runs:
        return dg.SensorResult(skip_reason=message, cursor=state.dumps())
    context.log.info(message)
    return dg.SensorResult(run_requests=[_run_request(run) for run in runs], cursor=state.dumps())


def _plan_push(context, remote: FleetRemote, state: DeployCursor, head: str) -> str:
    """Plan state.head..head, queue its cluster runs in `state` and move state.head to head
    (unless the fleet config is invalid at head). Returns what it did, for people."""
    repo, cursor = remote.repo, state.head
    base, note = cursor, ""
    if not repo.has_commit(cursor):
        state.head = head
        return (
            f"cursor commit {cursor[:12]} is unknown to the repo (history rewritten and collected?): "
            f"watching from {head[:12]}; launch deploy_job for what needs deploying"
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
        return f"{note}fleet config invalid at {head[:12]}, nothing deployed until it is fixed:\n{e}"
    plan = plan_range(fleet_at_head, changes, lambda p: repo.show(base, p), skip=decommissioned_hubs(context.instance))
    state.head = head
    summary = f"{note}{len(commits)} commit(s) {base[:12]}..{head[:12]}"
    if plan.removed:
        context.log.warning(f"{summary}: removed from config, needs a decommission run: {', '.join(plan.removed)}")
    if not plan.support and not plan.hub_ids():
        ignored = f" (changed: {', '.join(plan.ignored[:10])})" if plan.ignored else ""
        removed = f"; removed hubs need a decommission run: {', '.join(plan.removed)}" if plan.removed else ""
        return f"{summary}: nothing to deploy{ignored}{removed}"
    by_cluster = {c: [h for h in plan.hub_ids() if h.split("/", 1)[0] == c] for c in plan.clusters()}
    state.add_push(base, head, repo.subject(head)[:200], by_cluster)
    return f"{summary}: {len(by_cluster)} cluster run(s): {', '.join(by_cluster)}"


def _requested(runs: list[PendingRun], pending: list[PendingRun]) -> str:
    """'requested 5 of 100 cluster runs for <head12> (c000, ...); 95 pending: ...'"""
    parts = []
    for head in dict.fromkeys(r.head for r in runs):
        mine = [r for r in runs if r.head == head]
        parts.append(
            f"{len(mine)} of {mine[0].total} cluster runs for {head[:12]} ({', '.join(r.cluster for r in mine)})"
        )
    text = "requested " + "; ".join(parts)
    if pending:
        counts = {}
        for r in pending:
            counts[r.head] = counts.get(r.head, 0) + 1
        waiting = ", ".join(f"{n} for {h[:12]}" for h, n in counts.items())
        shown = ", ".join(r.cluster for r in pending[:10]) + (", ..." if len(pending) > 10 else "")
        text += f"; {len(pending)} pending ({waiting}), next: {shown}"
    return text


def _run_request(run: PendingRun) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"deploy-{run.head[:12]}-{run.cluster}",
        run_config={
            "ops": {
                "plan_deploy": {
                    # a launch defaults to a dry run; what the sensor plans is deployed
                    "config": {"base": run.base, "commit": run.head, "clusters": [run.cluster], "dry_run": False}
                }
            }
        },
        # what the runs list shows before the run starts (its plan step confirms them)
        tags={
            "hub_ops/kind": "deploy",
            "hub_ops/dry_run": "false",
            "hub_ops/hubs": hubs_tag(run.hub_ids()),
            "hub_ops/cluster": run.cluster,
            "hub_ops/commit": run.head[:12],
            "hub_ops/subject": run.subject,
        },
    )
