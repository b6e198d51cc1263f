"""decommission_job: retire a hub, behind gates, one idempotent step at a time.

plan -> no running servers (gate) -> final backup -> deep verify (gate) -> migrate homes
into the successor (conflict gate) -> verify count and bytes (gate) -> helm uninstall ->
delete namespace -> record. A gate that fails stops the run before anything is deleted.
Each step writes its result to a journal (observations on the hub's `hub_decommissions`
partition), so a rerun after a crash at any step finishes the job: the final backup is not
retaken once teardown began, uninstalling or deleting what is already gone is success.
Once recorded, the hub is `decommissioned`: deploys and nightly backups skip it; when its
keep_backups_days have passed, a run of this job expires its backups.

dry_run is the notice: it writes the `decommission_notices` report and changes nothing.
"""

import datetime as dt
import json
from dataclasses import dataclass, field

import dagster as dg
from pydantic import Field

from hub_ops.backup import Repository, verify_snapshot
from hub_ops.backup.compare import Comparison, compare_with_snapshot
from hub_ops.backup.config import backup_destination, local_home
from hub_ops.clients.git import GitError
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.decommission.calendar import standing
from hub_ops.decommission.expiry import expire_hub_backups
from hub_ops.decommission.gates import check_no_servers
from hub_ops.decommission.report import NoticeReport, cost_per_day
from hub_ops.decommission.teardown import delete_namespace, uninstall
from hub_ops.defs.backups.pods import HOME_MOUNT
from hub_ops.defs.backups.resources import BackupRunnerResource
from hub_ops.defs.decommission.assets import DECOMMISSION_NOTICES, HUB_DECOMMISSIONS
from hub_ops.defs.decommission.state import BACKUPS_EXPIRED, DECOMMISSIONED, decommission_records
from hub_ops.defs.fleet.resources import FleetResource, StorageResource
from hub_ops.defs.releases.assets import HUB_RELEASES
from hub_ops.defs.releases.resources import GitResource, JupyterHubResource, KubeResource, SopsResource
from hub_ops.deploy.releases import hub_release
from hub_ops.deploy.runner import find_service_token
from hub_ops.deploy.values import ValuesError, load_values_files
from hub_ops.fleet import Fleet, FleetConfigError, load_fleet
from hub_ops.fleet.models import Hub

TEARDOWN_STEPS = ("uninstall_release", "delete_hub_namespace")


class DecommissionConfig(dg.Config):
    hub: str = Field(description="The hub to retire, as cluster/hub.")
    dry_run: bool = Field(default=False, description="Write the notice report only; change nothing.")
    today: str = Field(default="", description="YYYY-MM-DD; default: today (UTC). The demo fixes it.")
    ahead_of_date_reason: str = Field(default="", description="Retire before the configured date, for this reason.")
    force_running_servers_reason: str = Field(
        default="",
        description=("Retire although user servers are running (or activity cannot be checked), for this reason."),
    )
    overwrite_in_successor_reason: str = Field(
        default="",
        description=(
            "Migrate although some migrated files exist differently in the successor's homes (they are overwritten), "
            "for this reason."
        ),
    )
    namespace_timeout_s: float = Field(default=600, gt=0)


@dataclass
class Retirement:
    """What each step needs, and what the steps did so far (the journal)."""

    hub: str
    partition: str
    fleet_root: str  # where the hub's definition was read (the config, or git at its last deploy)
    successor: str | None
    destination: str
    today: str
    keep_backups_until: str
    journal: dict[str, dict] = field(default_factory=dict)  # step -> {"result": ..., extras}
    force_running: str = ""
    overwrite_reason: str = ""
    namespace_timeout_s: float = 600.0

    def fleet(self) -> Fleet:
        return load_fleet(self.fleet_root, check_files=False)

    def done(self, *steps: str) -> bool:
        return any(s in self.journal for s in steps)


def _journal(context, r: Retirement, step: str, result: str, **extra) -> None:
    """Record a finished step (an observation on the hub's partition) and in the state."""
    r.journal[step] = {"result": result, **extra}
    context.log_event(
        dg.AssetObservation(
            asset_key=HUB_DECOMMISSIONS, partition=r.partition, metadata={"step": step, "result": result, **extra}
        )
    )
    context.log.info(f"{r.hub}: {step}: {result}")


def _read_journal(instance, partition: str) -> dict[str, dict]:
    """Steps recorded since the hub was last recorded as decommissioned (or ever)."""
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=HUB_DECOMMISSIONS, asset_partitions=[partition]), limit=200, ascending=True
    ).records
    journal: dict[str, dict] = {}
    for record in records:
        meta = {k: getattr(v, "value", v) for k, v in (record.asset_observation.metadata or {}).items()}
        if meta.get("step"):
            journal[meta.pop("step")] = meta
    return journal


def _find_hub(context, config: DecommissionConfig, fleet: FleetResource, git: GitResource) -> tuple[Fleet, Hub]:
    """The hub from the config; a hub removed from it while deployed comes from git, as it was
    at its last recorded deploy (so an orphaned release can still be retired properly)."""
    loaded = fleet.load()
    try:
        return loaded, loaded.hub(config.hub)
    except KeyError as missing:
        partition = config.hub.replace("/", ".", 1)
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=HUB_RELEASES, asset_partitions=[partition]), limit=1
        ).records
        sha = records and (records[0].asset_materialization.metadata or {}).get("git_sha")
        sha = getattr(sha, "value", sha)
        if not sha:
            raise dg.Failure(
                f"{missing.args[0]}; and no recorded deploy to find it in git", allow_retries=False
            ) from None
        try:
            remote = git.remote_for(fleet.root)
            remote.fetch()
            old = load_fleet(remote.fleet_at(sha), check_files=False)
        except (GitError, FleetConfigError) as e:
            raise dg.Failure(
                f"{config.hub} is not in the config and cannot be read at {sha[:12]}: {e}", allow_retries=False
            ) from None
        context.log.warning(f"{config.hub} is no longer in the config: retiring it as defined at {sha[:12]}")
        return old, old.hub(config.hub)


@dg.op(
    out={"retire": dg.Out(Retirement, is_required=False), "expire": dg.Out(Retirement, is_required=False)},
    tags={"kind": "plan"},
)
def plan_decommission(
    context: dg.OpExecutionContext,
    config: DecommissionConfig,
    fleet: FleetResource,
    git: GitResource,
    storage: StorageResource,
    sops: SopsResource,
    kube: KubeResource,
    hub_api: JupyterHubResource,
):
    """Where the hub stands: notice (dry run), retire, expire its backups, or nothing to do."""
    today = dt.date.fromisoformat(config.today) if config.today else dt.datetime.now(dt.UTC).date()
    loaded, hub = _find_hub(context, config, fleet, git)
    if hub.decommission is None:
        raise dg.Failure(f"{hub.id} has no `decommission:` block in its cluster.yaml", allow_retries=False)
    when = standing(hub, today)
    successor = None
    if hub.decommission.successor:
        succ = hub.decommission.successor
        successor = loaded.hub(succ if "/" in succ else f"{hub.cluster}/{succ}").id
    r = Retirement(
        hub.id,
        hub.partition_key,
        str(loaded.root),
        successor,
        backup_destination(loaded, hub),
        today.isoformat(),
        when.keep_backups_until.isoformat(),
        force_running=config.force_running_servers_reason,
        overwrite_reason=config.overwrite_in_successor_reason,
        namespace_timeout_s=config.namespace_timeout_s,
    )

    record = decommission_records(context.instance).get(hub.id)
    if record and record.get("state") in (DECOMMISSIONED, BACKUPS_EXPIRED):
        if record.get("state") == DECOMMISSIONED and today >= when.keep_backups_until and not config.dry_run:
            yield dg.Output(r, "expire")
        else:
            context.log.info(
                f"{hub.id}: {record.get('state')} on {record.get('decommissioned_on')}; backups kept until "
                f"{record.get('keep_backups_until')}: nothing to do"
            )
        return
    if config.dry_run:
        report = _notice(context, loaded, hub, when, r, storage, sops, kube, hub_api)
        context.log_event(
            dg.AssetMaterialization(
                asset_key=DECOMMISSION_NOTICES,
                partition=hub.partition_key,
                description=f"{hub.id} is retired on {hub.decommission.on} ({when.days_left} days)",
                metadata={
                    "report": dg.MetadataValue.md(report.markdown()),
                    "on": hub.decommission.on.isoformat(),
                    "days_left": when.days_left,
                    "phase": when.phase,
                },
            )
        )
        return
    if when.phase != "due" and not config.ahead_of_date_reason:
        raise dg.Failure(
            f"{hub.id} is due on {hub.decommission.on} ({when.days_left} days left); give "
            "ahead_of_date_reason to retire it earlier",
            allow_retries=False,
        )
    r.journal = _read_journal(context.instance, hub.partition_key)
    if r.journal:
        context.log.info(f"{hub.id}: resuming; already done: {', '.join(r.journal)}")
    if config.ahead_of_date_reason and when.phase != "due":
        _journal(context, r, "ahead_of_date", config.ahead_of_date_reason)
    yield dg.Output(r, "retire")


def _notice(context, fleet: Fleet, hub: Hub, when, r: Retirement, storage, sops, kube, hub_api) -> NoticeReport:
    report = NoticeReport(hub.id)
    report.add("retired on", f"{hub.decommission.on} (in {when.days_left} days; notice from {when.notice_from})")
    report.add(
        "final backup", f"homes at {_home_description(fleet, hub)} -> {r.destination}{_last_snapshot(r, hub, storage)}"
    )
    report.add("then", "deep verification of every blob; the run stops before anything is deleted if it fails")
    report.add(
        "homes migrated into",
        f"{r.successor} (users' folders as in the final backup; existing different files stop the run)"
        if r.successor
        else "no successor: homes are only kept in backups",
    )
    release = hub_release(fleet, hub)
    report.add("helm release uninstalled", f"{release.name} in namespace {release.namespace} of {hub.cluster}")
    report.add("namespace deleted", f"{release.namespace}, with what it holds (home PVCs included)")
    report.add("backups kept until", f"{r.keep_backups_until}, then expired")
    report.add("active users, last 30 days", _active_users(fleet, hub, sops, hub_api))
    report.add("cost", cost_per_day(storage.client(), fleet.settings.reports.destination, hub.cluster, hub.name))
    leftovers = _cluster_leftovers(context, fleet, hub)
    if leftovers:
        report.add("left on the cluster", leftovers)
    return report


def _home_description(fleet: Fleet, hub: Hub) -> str:
    home = hub.home
    if home is None:
        return "(no home configured)"
    local = local_home(fleet, hub)
    if local is not None:
        return str(local)
    where = f"PVC {home.pvc}" if home.pvc else f"NFS {home.nfs.server}:{home.nfs.path}"
    return f"{where}{' /' + home.sub_path if home.sub_path else ''} (namespace {hub.effective_namespace})"


def _last_snapshot(r: Retirement, hub: Hub, storage) -> str:
    snapshots = Repository.open(r.destination, storage.client()).summaries(hub.id) if hub.home else []
    if not snapshots:
        return "; no snapshot yet"
    last = snapshots[-1]
    return f"; last snapshot {last.id}: {last.files} files, {last.bytes:,} bytes"


def _hub_api_client(fleet: Fleet, hub: Hub, sops: SopsResource, hub_api: JupyterHubResource):
    values = load_values_files(fleet.values_paths(hub), sops.client(), fleet.root)
    token = find_service_token(values)
    return hub_api.client(hub.domain, hub.cluster, hub.name, token) if token else None


def _active_users(fleet: Fleet, hub: Hub, sops: SopsResource, hub_api: JupyterHubResource) -> str:
    try:
        api = _hub_api_client(fleet, hub, sops, hub_api)
        return str(api.users_active_since(30)) if api else "unknown (no hub-ops token in the hub's values)"
    except Exception as e:  # the notice reports what it could not learn
        return f"unknown ({e})"


def _cluster_leftovers(context, fleet: Fleet, hub: Hub) -> str:
    """When this is the cluster's last hub in service: what stays for a person to remove."""
    retired = set(decommission_records(context.instance))
    others = [h.id for h in fleet.clusters[hub.cluster].hubs if h.id != hub.id and h.id not in retired]
    if others:
        return ""
    cluster = fleet.clusters[hub.cluster]
    items = []
    if cluster.support:
        items.append(f"support release in namespace {cluster.support.namespace}")
    pools = _observed_pools(context.instance, cluster.name) or cluster.node_pools
    if pools:
        items.append("node pools " + ", ".join(pools))
    return f"last hub of {cluster.name}: remove by hand " + "; ".join(items or ["the cluster itself"])


def _observed_pools(instance, cluster: str) -> list[str]:
    """Node pool names of `cluster` from the latest `clusters` materialization."""
    event = instance.get_latest_materialization_event(dg.AssetKey("clusters"))
    meta = (event.asset_materialization.metadata or {}) if event and event.asset_materialization else {}
    return list((getattr(meta.get("node_pools"), "value", None) or {}).get(cluster, []))


def _unreachable_ok(fleet: Fleet, hub: Hub) -> bool:
    """A local cluster without an API (the demo): nothing is deployed there to tear down."""
    cluster = fleet.clusters[hub.cluster]
    return cluster.provider == "local" and not (cluster.local and cluster.local.kubeconfig)


@dg.op(tags={"kind": "gate"})
def gate_no_running_servers(
    context: dg.OpExecutionContext, r: Retirement, sops: SopsResource, kube: KubeResource, hub_api: JupyterHubResource
) -> Retirement:
    """Gate: no user server runs (JupyterHub API and singleuser pods), unless forced with a reason."""
    if r.done(*TEARDOWN_STEPS):
        return r  # the release is gone already: nobody can be running on it
    fleet = r.fleet()
    hub = fleet.hub(r.hub)
    api = client = None
    try:
        api = _hub_api_client(fleet, hub, sops, hub_api)
    except ValuesError as e:
        context.log.warning(f"cannot ask the hub's API: {e}")
    try:
        client = kube.client(fleet, fleet.clusters[hub.cluster], sops.client())
    except ClusterUnreachable as e:
        context.log.warning(str(e))
    gate = check_no_servers(api, client, hub.effective_namespace)
    if not gate.passed:
        if not r.force_running:
            raise dg.Failure(
                f"{r.hub}: gate closed: {gate.describe()}. Nothing was changed. Ask users to stop, or give "
                "force_running_servers_reason.",
                allow_retries=False,
            )
        _journal(context, r, "gate_no_running_servers", f"FORCED ({r.force_running}): {gate.describe()}")
    else:
        _journal(context, r, "gate_no_running_servers", gate.describe())
    return r


@dg.op(tags={"kind": "backup"})
def final_backup(
    context: dg.OpExecutionContext,
    r: Retirement,
    storage: StorageResource,
    sops: SopsResource,
    kube: KubeResource,
    backup_runner: BackupRunnerResource,
) -> Retirement:
    """A snapshot of the hub's homes (incremental; retaken on a rerun until teardown began)."""
    fleet = r.fleet()
    hub = fleet.hub(r.hub)
    if hub.home is None:
        _journal(context, r, "final_backup", "the hub has no home directories to back up")
        return r
    if r.done(*TEARDOWN_STEPS):
        if "snapshot_id" not in r.journal.get("final_backup", {}):
            raise dg.Failure(f"{r.hub}: teardown began but no final backup is recorded", allow_retries=False)
        context.log.info(f"teardown began: keeping final snapshot {r.journal['final_backup']['snapshot_id']}")
        return r
    summary = backup_runner.backup(
        context, fleet, hub, storage.client(), lambda c: kube.client(fleet, c, sops.client())
    )
    _journal(
        context,
        r,
        "final_backup",
        f"snapshot {summary.id}: {summary.files} files, {summary.bytes} bytes",
        snapshot_id=summary.id,
        files=summary.files,
        bytes=summary.bytes,
    )
    return r


@dg.op(tags={"kind": "gate"})
def verify_final_backup(context: dg.OpExecutionContext, r: Retirement, storage: StorageResource) -> Retirement:
    """Gate: every content of the final snapshot is read back and re-hashed."""
    snapshot_id = r.journal.get("final_backup", {}).get("snapshot_id")
    if snapshot_id is None:
        return r
    report = verify_snapshot(Repository.open(r.destination, storage.client()), r.hub, snapshot_id, deep=True)
    if not report.ok:
        raise dg.Failure(
            f"{r.hub}: final backup {snapshot_id} failed deep verification; nothing was deleted:\n"
            + "\n".join(report.problems[:20]),
            allow_retries=False,
        )
    _journal(
        context,
        r,
        "verify_final_backup",
        f"{report.files} files, {report.contents} contents re-hashed: all good",
        snapshot_id=snapshot_id,
    )
    return r


def _compare(
    context, r: Retirement, fleet: Fleet, target_hub: Hub, storage, sops, kube, runner: BackupRunnerResource
) -> Comparison:
    snapshot_id = r.journal["final_backup"]["snapshot_id"]
    home = local_home(fleet, target_hub)
    if home is not None:
        return compare_with_snapshot(Repository.open(r.destination, storage.client()), r.hub, snapshot_id, home)
    # the successor's homes are on a cluster volume: compare in a pod that mounts them
    tail = runner.run_home_pod(
        context,
        lambda c: kube.client(fleet, c, sops.client()),
        fleet,
        target_hub,
        [
            "hub-ops",
            "compare-homes",
            "--hub",
            r.hub,
            "--dest",
            r.destination,
            "--snapshot",
            snapshot_id,
            "--target",
            HOME_MOUNT,
        ],
        read_only=True,
        kind="compare",
    )
    line = next((line for line in reversed(tail.splitlines()) if line.startswith("{")), None)
    if line is None:
        raise dg.Failure(f"the compare pod for {target_hub.id} printed no result:\n{tail[-2000:]}")
    return Comparison(**json.loads(line))


@dg.op(tags={"kind": "restore"})
def migrate_homes_to_successor(
    context: dg.OpExecutionContext,
    r: Retirement,
    storage: StorageResource,
    sops: SopsResource,
    kube: KubeResource,
    backup_runner: BackupRunnerResource,
) -> Retirement:
    """Restore the final snapshot into the successor's homes; files that exist there
    differently stop the run (a gate) unless overwriting is given a reason."""
    if not r.successor or "snapshot_id" not in r.journal.get("final_backup", {}):
        return r
    fleet = r.fleet()
    hub, successor = fleet.hub(r.hub), fleet.hub(r.successor)
    before = _compare(context, r, fleet, successor, storage, sops, kube, backup_runner)
    if before.differing_count and not r.overwrite_reason:
        raise dg.Failure(
            f"{r.hub}: {before.differing_count} migrated path(s) exist differently in {successor.id}'s homes "
            f"(e.g. {', '.join(before.differing[:10])}); nothing was deleted. Move them aside, or give "
            "overwrite_in_successor_reason.",
            allow_retries=False,
        )
    snapshot_id = r.journal["final_backup"]["snapshot_id"]
    backup_runner.restore(
        context,
        fleet,
        hub,
        snapshot_id,
        storage.client(),
        into_hub=successor,
        kube_for=lambda c: kube.client(fleet, c, sops.client()),
    )
    note = f" (overwrote {before.differing_count}: {r.overwrite_reason})" if before.differing_count else ""
    _journal(
        context,
        r,
        "migrate_homes",
        f"snapshot {snapshot_id} restored into {successor.id}{note}",
        snapshot_id=snapshot_id,
    )
    return r


@dg.op(tags={"kind": "gate"})
def verify_migration(
    context: dg.OpExecutionContext,
    r: Retirement,
    storage: StorageResource,
    sops: SopsResource,
    kube: KubeResource,
    backup_runner: BackupRunnerResource,
) -> Retirement:
    """Gate: every file of the snapshot is in the successor's homes, same size and time."""
    if not r.successor or "snapshot_id" not in r.journal.get("final_backup", {}):
        return r
    fleet = r.fleet()
    after = _compare(context, r, fleet, fleet.hub(r.successor), storage, sops, kube, backup_runner)
    if not after.complete:
        raise dg.Failure(
            f"{r.hub}: migration into {r.successor} incomplete: {after.describe()}; nothing was deleted",
            allow_retries=False,
        )
    _journal(context, r, "verify_migration", after.describe(), files=after.files, bytes=after.bytes)
    return r


def _teardown(context, r: Retirement, step: str, action) -> Retirement:
    """Run a teardown step once: recorded by an earlier, interrupted run -> not done again; a
    local cluster without an API (the demo) -> nothing is deployed there; else `action(fleet,
    hub)`, whose result text is journaled."""
    if step in r.journal:
        context.log.info(f"{r.hub}: {step} done by an earlier run: {r.journal[step]['result']}")
        return r
    fleet = r.fleet()
    hub = fleet.hub(r.hub)
    if _unreachable_ok(fleet, hub):
        _journal(context, r, step, f"skipped: {hub.cluster} has no cluster API configured (nothing deployed)")
        return r
    _journal(context, r, step, action(fleet, hub))
    return r


@dg.op(tags={"kind": "helm"})
def uninstall_release(
    context: dg.OpExecutionContext, r: Retirement, sops: SopsResource, kube: KubeResource
) -> Retirement:
    """helm uninstall the hub's release (already gone is success)."""

    def action(fleet: Fleet, hub: Hub) -> str:
        helm = kube.helm(fleet, fleet.clusters[hub.cluster], sops.client())
        try:
            return uninstall(helm, hub_release(fleet, hub))
        finally:
            helm.close()

    return _teardown(context, r, "uninstall_release", action)


@dg.op(tags={"kind": "kubernetes"})
def delete_hub_namespace(
    context: dg.OpExecutionContext, r: Retirement, sops: SopsResource, kube: KubeResource
) -> Retirement:
    """Delete the hub's namespace and wait until it is gone (already gone is success)."""

    def action(fleet: Fleet, hub: Hub) -> str:
        client = kube.client(fleet, fleet.clusters[hub.cluster], sops.client())
        return delete_namespace(client, hub.effective_namespace, r.namespace_timeout_s)

    return _teardown(context, r, "delete_hub_namespace", action)


@dg.op(tags={"kind": "record"})
def record_decommission(context: dg.OpExecutionContext, r: Retirement) -> None:
    """The hub is decommissioned: every step's result, in one record."""
    fleet = r.fleet()
    hub = fleet.hub(r.hub)
    table = "| step | result |\n|---|---|\n" + "\n".join(
        f"| {step} | {str(entry.get('result', '')).replace('|', '/')} |" for step, entry in r.journal.items()
    )
    leftovers = _cluster_leftovers(context, fleet, hub)
    context.log_event(
        dg.AssetMaterialization(
            asset_key=HUB_DECOMMISSIONS,
            partition=r.partition,
            description=f"{r.hub} decommissioned on {r.today}",
            metadata={
                "state": DECOMMISSIONED,
                "decommissioned_on": r.today,
                "keep_backups_until": r.keep_backups_until,
                "successor": r.successor or "",
                "final_snapshot": r.journal.get("final_backup", {}).get("snapshot_id", ""),
                "destination": r.destination,
                "steps": dg.MetadataValue.md(table),
                "left_on_cluster": leftovers or "other hubs still run on this cluster",
            },
        )
    )


@dg.op(tags={"kind": "backup-prune"})
def expire_backups(context: dg.OpExecutionContext, r: Retirement, storage: StorageResource) -> None:
    """After keep_backups_days: forget every snapshot of the retired hub, collect its blobs."""
    report = expire_hub_backups(Repository.open(r.destination, storage.client()), r.hub, log=context.log.info)
    previous = decommission_records(context.instance).get(r.hub, {})
    context.log_event(
        dg.AssetMaterialization(
            asset_key=HUB_DECOMMISSIONS,
            partition=r.partition,
            description=f"{r.hub}: backups expired on {r.today}",
            metadata={
                **{k: v for k, v in previous.items() if isinstance(v, (str, int, float))},
                "state": BACKUPS_EXPIRED,
                "backups_expired_on": r.today,
                "snapshots_forgotten": len(report.forgotten),
                "blobs_deleted": report.blobs_deleted,
                "bytes_deleted": report.bytes_deleted,
                "blob_collection": report.gc_skipped or "done",
            },
        )
    )


@dg.job(
    tags={"hub_ops/kind": "decommission"},
    description=(
        "Retire a hub behind gates: no running servers, a deep-verified final backup, its homes migrated to the "
        "successor "
        "and verified; then helm uninstall and namespace deletion. dry_run writes the notice report only."
    ),
)
def decommission_job():
    retire, expire = plan_decommission()
    record_decommission(
        delete_hub_namespace(
            uninstall_release(
                verify_migration(
                    migrate_homes_to_successor(verify_final_backup(final_backup(gate_no_running_servers(retire))))
                )
            )
        )
    )
    expire_backups(expire)
