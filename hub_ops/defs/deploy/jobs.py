"""deploy_job: per cluster, support release -> staging hubs -> staging health -> prod hubs.

Each cluster is a chain of mapped steps, so a failure stops only that cluster's later steps
while the other clusters carry on, and the run view shows each cluster's progress. Within a
step, hubs deploy in parallel (max_parallel). Helm actions share the `helm_deploys` pool;
a hub is never changed by two runs at once (its Lease, held as `deploy <run id>` from the
in-sync check through the rollback; see hub_ops.deploy.runner).

Retired hubs (a `hub_decommissions` record) are never deployed by a planned range; asked for
by name, they fail the plan unless the run gives `retired_hub_reason`, which is recorded
with the run (tag `hub_ops/retired_hub_reason`, the plan's log and metadata).
"""

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field

from hub_ops.clients.git import GitError
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.defs.clusters.assets import observed_control_plane_versions
from hub_ops.defs.decommission.checks import no_orphaned_releases
from hub_ops.defs.decommission.records import decommissioned_hubs
from hub_ops.defs.deploy.assets import hub_release_materialization
from hub_ops.defs.deploy.checks import hub_releases_in_sync
from hub_ops.defs.deploy.plans import ClusterDeployPlan, split_by_cluster
from hub_ops.defs.shared.metadata import table
from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.defs.shared.resources import FleetResource, GitResource, JupyterHubResource, KubeResource, SopsResource
from hub_ops.deploy.diff import plan_preview
from hub_ops.deploy.manifests import supported_version
from hub_ops.deploy.releases import PreparedCharts, release_for_id
from hub_ops.deploy.runner import DeployFailed, DeploySettings, ReleaseDeployer, ReleaseResult
from hub_ops.fleet import FleetConfigError, load_fleet
from hub_ops.fleet.planner import Plan, plan_range, plan_releases

DEPLOY_RETRY = dg.RetryPolicy(max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL)
DEFAULTS = DeploySettings()


class DeployConfig(dg.Config):
    hubs: list[str] = Field(
        default_factory=list,
        description=(
            "Releases to deploy: `cluster/hub` ids, or a cluster name for its support release. "
            "Empty: plan the commit (or the branch head) instead."
        ),
    )
    commit: str = Field(
        default="",
        description="Deploy the fleet as of this commit of the watched branch (default: its head): HEAD, HEAD~2, "
        "main~2, a short or full sha.",
    )
    base: str = Field(
        default="",
        description="Plan the range base..commit (the deploy_on_push sensor sets it). "
        "Default without hubs: the commit's parent.",
    )
    clusters: list[str] = Field(default_factory=list, description="Only these clusters (empty: all in the plan).")
    dry_run: bool = Field(
        default=True,
        description="Render every release offline and validate its manifests; change nothing. A real deploy says "
        "`dry_run: false` (the deploy_on_push sensor does).",
    )
    retired_hub_reason: str = Field(
        default="",
        description="Deploy hubs named in `hubs` although they were decommissioned (reinstalling them), and why; "
        "recorded with the run. Planned ranges never deploy retired hubs.",
    )
    kubernetes_version: str = Field(
        default="",
        description=(
            "Dry runs validate against this Kubernetes version (default: each cluster's version from the latest "
            "`clusters` materialization, else 1.N with N = fleet.yaml kubernetes.min_minor, else 1.30)."
        ),
    )
    max_parallel: int = Field(
        default=DEFAULTS.max_parallel, ge=1, le=32, description="Hubs deployed at once within a cluster step."
    )
    ready_timeout_s: float = Field(default=DEFAULTS.ready_timeout, gt=0)
    health_timeout_s: float = Field(default=DEFAULTS.health_timeout, gt=0)
    start_server: bool = Field(
        default=DEFAULTS.start_server, description="The health check starts and stops a server for a check user."
    )

    def deploy_settings(self) -> DeploySettings:
        return DeploySettings(
            max_parallel=self.max_parallel,
            ready_timeout=self.ready_timeout_s,
            health_timeout=self.health_timeout_s,
            start_server=self.start_server,
        )


@dg.op(out=dg.DynamicOut(ClusterDeployPlan), tags={"hub_ops/kind": "plan"})
def plan_deploy(
    context: dg.OpExecutionContext, config: DeployConfig, fleet: FleetResource, git: GitResource, sops: SopsResource
):
    """Resolve the commit, plan the releases, show what each changes, and hand each cluster its share."""
    fleet_root, sha, plan, base_root = _plan(context, config, fleet, git)
    retired_anyway = _retired_requested(context, config, plan)
    if config.clusters:
        plan = _only_clusters(plan, set(config.clusters))
    if plan.removed:
        context.log.warning(
            "removed from config while maybe still deployed (needs a decommission run, not deleted): "
            + ", ".join(plan.removed)
        )
    loaded = load_fleet(fleet_root, check_files=False)
    default_k8s = f"1.{loaded.settings.kubernetes.min_minor or 30}.0"
    observed = observed_control_plane_versions(context.instance)
    _ensure_partitions(context, [loaded.hub(h).partition_key for h in plan.hub_ids()])
    context.log.info(f"plan at {sha[:12] if sha else 'the working tree'}:\n" + _plan_text(plan))
    preview = _preview(context, base_root, fleet_root, plan, sops, sha)
    context.instance.add_run_tags(
        context.run_id,
        {
            "hub_ops/dry_run": str(config.dry_run).lower(),
            "hub_ops/releases": str(len(plan.rows())),
            "hub_ops/hubs": hubs_tag(plan.hub_ids()),
        },
    )
    settings = config.deploy_settings()
    for cluster_plan in split_by_cluster(
        plan, fleet_root=str(fleet_root), git_sha=sha, dry_run=config.dry_run, kubernetes_version="", settings=settings
    ):
        k8s = config.kubernetes_version or observed.get(cluster_plan.cluster) or default_k8s
        cluster_plan.kubernetes_version = supported_version(_minor(k8s)) if config.dry_run else k8s
        part = _only_clusters(plan, {cluster_plan.cluster})
        changes = {}
        if preview is not None:
            ids = ([cluster_plan.cluster] if cluster_plan.support else []) + cluster_plan.staging + cluster_plan.prod
            diffs = {rid: preview.release(rid) for rid in ids}
            cluster_plan.diffs = {rid: d.markdown() for rid, d in diffs.items() if d is not None}
            rows = [{"release": rid, "change": d.summary()} for rid, d in diffs.items() if d is not None]
            changes["changes"] = table(rows, ["release", "change"])
        yield dg.DynamicOutput(
            cluster_plan,
            mapping_key=cluster_plan.mapping_key,
            metadata={
                "plan": table(_plan_rows(part), PLAN_COLUMNS),
                "commit": sha or "(working tree)",
                "release_count": len(part.support) + len(part.hub_ids()),
                **changes,
                **({"retired_hubs_deployed": ", ".join(retired_anyway)} if retired_anyway else {}),
                **({"retired_hub_reason": config.retired_hub_reason} if retired_anyway else {}),
            },
        )


def _plan(
    context, config: DeployConfig, fleet: FleetResource, git: GitResource
) -> tuple[Path, str | None, Plan, Path | None]:
    """The fleet folder at the commit, its sha, the plan, and the fleet folder at the base the
    plan was made against (None when there is none: releases named in the run config)."""
    try:
        remote = git.remote_for(fleet.root)
        head = remote.fetch()
        repo = remote.repo
        sha = remote.resolve(config.commit) if config.commit else head
        root = remote.fleet_at(sha)
    except (GitError, FleetConfigError) as e:
        if config.commit or config.base:
            raise dg.Failure(f"cannot read the fleet repo: {e}", allow_retries=False) from None
        context.log.warning(f"no git history ({e}); deploying the fleet folder as it is")
        remote, repo, sha, root = None, None, None, Path(fleet.root)
    try:
        at_sha = load_fleet(root, check_files=False)
    except FleetConfigError as e:
        raise dg.Failure(f"fleet config at {sha or root} invalid:\n{e}", allow_retries=False) from None
    retired = decommissioned_hubs(context.instance)
    try:
        if config.hubs:
            return root, sha, plan_releases(at_sha, config.hubs, reason="requested in the run config"), None
    except KeyError as e:
        raise dg.Failure(str(e).strip('"'), allow_retries=False) from None
    if repo is None:
        raise dg.Failure("nothing to plan: give `hubs`, or run against a fleet repo with history", allow_retries=False)
    base = config.base or (repo.run("rev-parse", f"{sha}^", check=False).decode().strip() or None)
    if not base:
        raise dg.Failure(f"{sha[:12]} has no parent to plan against: give `hubs`", allow_retries=False)
    context.log.info(f"planning {base[:12]}..{sha[:12]} ({len(repo.commits(base, sha))} commit(s))")
    plan = plan_range(at_sha, repo.changed_paths(base, sha), lambda p: repo.show(base, p), skip=retired)
    if plan.skipped:
        context.log.info("retired hubs left out: " + ", ".join(f"{h} ({retired[h]})" for h in plan.skipped))
    return root, sha, plan, remote.fleet_at(base)


def _preview(context, base_root: Path | None, head_root: Path, plan: Plan, sops: SopsResource, sha: str | None):
    """What each planned release changes between the base and the commit (hub_ops.deploy.diff),
    logged with its risk flags; None when the plan has no base. Secrets are masked."""
    if base_root is None or not plan.rows():
        return None
    preview = plan_preview(base_root, head_root, plan, sops.client(), base="base", head=(sha or "head")[:12])
    context.log.info("what this deploy changes:\n" + preview.summary_markdown())
    if preview.flags:
        context.log.warning("risk flags:\n" + "\n".join(f"- `{rid}`: {flag.text()}" for rid, flag in preview.flags))
    return preview


def _retired_requested(context, config: DeployConfig, plan: Plan) -> list[str]:
    """Retired hubs among those asked for by name: a Failure naming their records, unless
    the run gives retired_hub_reason (then recorded with the run). Returns those hubs."""
    if not config.hubs:
        return []
    retired = decommissioned_hubs(context.instance)
    asked = [h for h in plan.hub_ids() if h in retired]
    if not asked:
        return []
    records = "; ".join(
        f"{h}: {retired[h]} (asset hub_decommissions, partition {h.replace('/', '.', 1)})" for h in asked
    )
    if not config.retired_hub_reason.strip():
        raise dg.Failure(
            f"refusing to deploy retired hub(s), which would reinstall them and recreate their namespaces: "
            f"{records}. To deploy them anyway, give `retired_hub_reason` in the run config.",
            allow_retries=False,
        )
    reason = config.retired_hub_reason.strip()
    context.instance.add_run_tags(context.run_id, {"hub_ops/retired_hub_reason": reason[:200]})
    context.log.warning(f"deploying retired hub(s) on purpose: {records}. Reason given: {reason}")
    return asked


def _minor(version: str) -> int:
    """1.30.5-gke.1014001 -> 30."""
    try:
        return int(version.lstrip("v").split(".")[1].split("-")[0].split("+")[0])
    except (IndexError, ValueError):
        raise dg.Failure(f"cannot read a Kubernetes version from {version!r}", allow_retries=False) from None


def _only_clusters(plan: Plan, clusters: set[str]) -> Plan:
    keep = lambda rid: rid.split("/", 1)[0] in clusters  # noqa: E731
    return Plan(
        support=[c for c in plan.support if c in clusters],
        staging=[h for h in plan.staging if keep(h)],
        prod=[h for h in plan.prod if keep(h)],
        removed=[h for h in plan.removed if keep(h)],
        skipped=[h for h in plan.skipped if keep(h)],
        ignored=plan.ignored,
        reasons={k: v for k, v in plan.reasons.items() if keep(k)},
    )


def _ensure_partitions(context, keys: list[str]) -> None:
    existing = set(context.instance.get_dynamic_partitions(hubs_partitions.name))
    missing = sorted(set(keys) - existing)
    if missing:
        context.instance.add_dynamic_partitions(hubs_partitions.name, missing)


def hubs_tag(hub_ids: list[str], limit: int = 400) -> str:
    """The run's hubs as one tag value (cluster/hub ids), cut at `limit` characters with a count."""
    text = ", ".join(hub_ids) or "none"
    if len(text) <= limit:
        return text
    shown = text[:limit].rsplit(", ", 1)[0]
    return f"{shown} and {len(hub_ids) - shown.count(', ') - 1} more"


PLAN_COLUMNS = ["step", "release", "why"]
RESULT_COLUMNS = ["release", "status", "revision", "detail", "seconds"]


def _plan_rows(plan: Plan) -> list[dict]:
    return [dict(zip(PLAN_COLUMNS, row)) for row in plan.rows()]


def _plan_text(plan: Plan) -> str:
    """The plan for the run's log: one line per release."""
    return "\n".join(f"{k}: {r} ({why})" for k, r, why in plan.rows()) or "nothing to deploy"


# ------------------------------------------------------------------ per-cluster steps


@contextmanager
def _deployer(context, plan: ClusterDeployPlan, sops: SopsResource, kube: KubeResource, hub_api: JupyterHubResource):
    fleet = load_fleet(plan.fleet_root, check_files=False)
    sops_client = sops.client()
    helm = kube_client = None
    if not plan.dry_run:
        try:
            cluster = fleet.clusters[plan.cluster]
            kube_client = kube.client(fleet, cluster)
            helm = kube.helm(fleet, cluster)
        except ClusterUnreachable as e:
            raise dg.Failure(str(e)) from None

    def api(release, token):
        hub = fleet.hub(release.id)
        return hub_api.client(hub.domain, hub.cluster, hub.name, token)

    with PreparedCharts(fleet) as charts:
        try:
            yield (
                fleet,
                ReleaseDeployer(
                    fleet,
                    charts,
                    sops_client,
                    helm=helm,
                    kube=kube_client,
                    hub_api=api,
                    settings=dataclasses.replace(
                        plan.settings, lease_ttl=kube.lease_ttl_s, lease_wait=kube.lease_wait_s
                    ),
                    log=context.log.info,
                ),
            )
        finally:
            if helm is not None:
                helm.close()


def _run_each(context, plan: ClusterDeployPlan, ids: list[str], work) -> list[tuple[str, str, bool]]:
    """Run `work(id) -> ReleaseResult` for each id in parallel; record results; return the
    failures as (release id, message, retryable)."""
    failures: list[tuple[str, str, bool]] = []
    workers = max(1, min(plan.settings.max_parallel, len(ids) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"deploy-{plan.cluster}") as pool:
        for rid, outcome in zip(ids, pool.map(lambda rid: _attempt(work, rid), ids)):
            result, error, retryable = outcome
            plan.results[rid] = result
            if error:
                failures.append((rid, error, retryable))
                context.log.error(error)
            else:
                context.log.info(f"{rid}: {result.status}, {result.health} ({result.duration_s:.1f} s)")
    return failures


def _attempt(work, rid: str) -> tuple[ReleaseResult, str | None, bool]:
    try:
        return work(rid), None, False
    except DeployFailed as e:
        return e.result, str(e), e.retryable


def _result_rows(plan: ClusterDeployPlan, ids: list[str]) -> list[dict]:
    """One row per release of the step: status, helm revision, health or what went wrong, seconds."""
    rows = []
    for rid in ids:
        r = plan.results.get(rid)
        if r is None:
            rows.append({"release": rid, "status": "not run"})
            continue
        detail = r.message if r.status in ("dry-run", "failed", "rolled back") else r.health
        rows.append(
            {
                "release": rid,
                "status": r.status,
                "revision": r.revision or None,
                "detail": str(detail or ""),
                "seconds": float(r.duration_s),
            }
        )
    return rows


def _finish(
    context, plan: ClusterDeployPlan, ids: list[str], failures: list[tuple[str, str, bool]], step: str
) -> ClusterDeployPlan:
    diffs = "\n\n".join(plan.diffs[rid] for rid in ids if rid in plan.diffs)
    context.add_output_metadata(
        {
            "releases": table(_result_rows(plan, ids), RESULT_COLUMNS),
            **({"diff": dg.MetadataValue.md(diffs)} if diffs else {}),
        }
    )
    if failures:
        rows = [{"release": rid, "error": m, "retryable": retryable} for rid, m, retryable in failures]
        raise dg.Failure(
            description=f"{plan.cluster}: {step} failed for {len(failures)} release(s); "
            f"later steps of this cluster are skipped:\n" + "\n".join(r["error"] for r in rows),
            metadata={"failures": table(rows, ["release", "error", "retryable"])},
            # an unreachable API may come back; a bad chart or a failed health check will not
            allow_retries=all(r["retryable"] for r in rows),
        )
    return plan


def _record(context, plan: ClusterDeployPlan, fleet, rid: str) -> None:
    """A hub_releases materialization for a deployed, healthy hub."""
    why = "; ".join(plan.reasons.get(rid, []))
    context.log_event(hub_release_materialization(fleet.hub(rid), plan.results[rid], why))


def deploy_holder(context) -> str:
    """Who holds a hub's Lease while this run changes it (shown to whoever waits for it)."""
    return f"deploy {context.run_id}"


def _deploy_step(context, plan, sops, kube, hub_api, ids: list[str], *, health: bool, record: bool, step: str):
    if not ids:
        return _finish(context, plan, ids, [], step)
    with _deployer(context, plan, sops, kube, hub_api) as (fleet, deployer):

        def work(rid: str) -> ReleaseResult:
            release = release_for_id(fleet, rid)
            if plan.dry_run:
                return deployer.dry_run(release, plan.kubernetes_version)
            return deployer.deploy(
                release,
                git_sha=plan.git_sha,
                holder=deploy_holder(context),
                health=health,
                description=f"hub-ops {plan.git_sha[:12] if plan.git_sha else 'manual'}: {rid}",
            )

        failures = _run_each(context, plan, ids, work)
        if record and not plan.dry_run:
            for rid in ids:
                if plan.results[rid].status in ("deployed", "unchanged") and "/" in rid:
                    _record(context, plan, fleet, rid)
    return _finish(context, plan, ids, failures, step)


@dg.op(retry_policy=DEPLOY_RETRY, pool="helm_deploys", tags={"hub_ops/kind": "helm"})
def deploy_support(
    context: dg.OpExecutionContext,
    plan: ClusterDeployPlan,
    sops: SopsResource,
    kube: KubeResource,
    hub_api: JupyterHubResource,
) -> ClusterDeployPlan:
    """The cluster's support release (its Deployments must become Available)."""
    return _deploy_step(
        context,
        plan,
        sops,
        kube,
        hub_api,
        [plan.cluster] if plan.support else [],
        health=False,
        record=False,
        step="support release",
    )


@dg.op(retry_policy=DEPLOY_RETRY, pool="helm_deploys", tags={"hub_ops/kind": "helm"})
def deploy_staging(
    context: dg.OpExecutionContext,
    plan: ClusterDeployPlan,
    sops: SopsResource,
    kube: KubeResource,
    hub_api: JupyterHubResource,
) -> ClusterDeployPlan:
    """Upgrade the cluster's staging hubs and wait until they are Available."""
    return _deploy_step(
        context, plan, sops, kube, hub_api, plan.staging, health=False, record=False, step="staging deploy"
    )


@dg.op(retry_policy=DEPLOY_RETRY, tags={"hub_ops/kind": "jupyterhub"})
def check_staging(
    context: dg.OpExecutionContext,
    plan: ClusterDeployPlan,
    sops: SopsResource,
    kube: KubeResource,
    hub_api: JupyterHubResource,
) -> ClusterDeployPlan:
    """Health-check each staging hub through its JupyterHub API; a failing hub is rolled back
    and the cluster's prod hubs are not deployed."""
    if plan.dry_run or not plan.staging:
        return _finish(context, plan, [], [], "staging health")
    with _deployer(context, plan, sops, kube, hub_api) as (fleet, deployer):

        def work(rid: str) -> ReleaseResult:
            return deployer.check_or_roll_back(release_for_id(fleet, rid), plan.results[rid], deploy_holder(context))

        failures = _run_each(context, plan, plan.staging, work)
        for rid in plan.staging:
            if plan.results[rid].health != "failed":
                _record(context, plan, fleet, rid)
    return _finish(context, plan, plan.staging, failures, "staging health")


@dg.op(retry_policy=DEPLOY_RETRY, pool="helm_deploys", tags={"hub_ops/kind": "helm"})
def deploy_prod(
    context: dg.OpExecutionContext,
    plan: ClusterDeployPlan,
    sops: SopsResource,
    kube: KubeResource,
    hub_api: JupyterHubResource,
) -> ClusterDeployPlan:
    """Upgrade the cluster's prod hubs, each health-checked and rolled back on failure."""
    return _deploy_step(context, plan, sops, kube, hub_api, plan.prod, health=True, record=True, step="prod deploy")


@dg.job(
    tags={"hub_ops/kind": "deploy"},
    description=(
        "Deploy planned releases: per cluster, the support release, then staging hubs, their health checks, then prod "
        "hubs. A failure stops only that cluster's later steps. dry_run renders and validates without "
        "changing anything."
    ),
)
def deploy_job():
    plan_deploy().map(deploy_support).map(deploy_staging).map(check_staging).map(deploy_prod)


release_checks_job = dg.define_asset_job(
    "release_checks_job",
    selection=dg.AssetSelection.checks(hub_releases_in_sync, no_orphaned_releases),
    description="Compare every live hub release with its recorded deploy and the config (read-only).",
    tags={"hub_ops/kind": "checks"},
)
