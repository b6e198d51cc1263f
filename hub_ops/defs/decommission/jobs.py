"""decommission_job: retire a hub, behind gates, one idempotent step at a time.

plan -> no running servers (gate) -> final backup -> deep verify (gate) -> migrate homes
into the successor (conflict gate) -> verify count and bytes (gate) -> helm uninstall ->
delete namespace -> record. A gate that fails stops the run before anything is deleted.
Each step is journaled (journal.py) before the next starts, so a rerun after a crash at any
step finishes the job: the final backup is not retaken once teardown began, uninstalling or
deleting what is already gone is success. Once recorded (records.py), the hub is
`decommissioned`: deploys and nightly backups skip it; when its keep_backups_days have
passed, a run of this job expires its backups.

dry_run is the notice: it writes the `decommission_notices` report and changes nothing. It
is the default: a real retirement is an explicit `dry_run: false`.

Who may touch the hub meanwhile: nobody. The job is partitioned by hub (its run carries
`hub_ops/hub`, one run per hub in dagster.yaml), and every step from the gate to the record
holds the hub's Lease (KubeResource.hub_lock) as `decommission <hub>`, kept between steps so
no deploy or restore slips in. The record gives it back. A step that fails before teardown
began gives it back too; once teardown began it is kept until it expires (lease_ttl_s), and
the `teardown began` record written before helm uninstall makes deploys and backups skip the
hub from then on (decommissioned_hubs), so a half torn-down hub is finished by a rerun of
this job, never reinstalled.

The date is the `clock` resource's (the real one in production), never run config.
"""

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from hub_ops.backup.compare import Comparison, compare_with_snapshot
from hub_ops.backup.config import backup_destination, local_home
from hub_ops.backup.repository import Repository
from hub_ops.clients.git import GitError
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.decommission.calendar import Standing, standing
from hub_ops.decommission.gates import check_no_servers
from hub_ops.decommission.report import cluster_leftovers, cost_per_day, notice_report, retired_report, when_text
from hub_ops.decommission.teardown import delete_namespace, uninstall
from hub_ops.defs.clusters.assets import observed_node_pools
from hub_ops.defs.decommission.assets import DECOMMISSION_NOTICES
from hub_ops.defs.decommission.journal import TEARDOWN_BEGAN_STEP, Retirement, read_journal, record_step
from hub_ops.defs.decommission.records import (
    BACKUPS_EXPIRED,
    DECOMMISSIONED,
    TEARDOWN_BEGAN,
    DecommissionRecord,
    decommission_records,
)
from hub_ops.defs.deploy.assets import latest_hub_release
from hub_ops.defs.shared.home_pods import HOME_MOUNT
from hub_ops.defs.shared.metadata import table
from hub_ops.defs.shared.partitions import hub_of_run, hub_partitioned_config
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
from hub_ops.deploy.releases import hub_release
from hub_ops.deploy.values import ValuesError
from hub_ops.fleet import Fleet, FleetConfigError, load_fleet
from hub_ops.fleet.models import Hub


class DecommissionConfig(dg.Config):
    """The hub is the run's partition. The date is the `clock` resource's, not run config."""

    dry_run: bool = Field(
        default=True, description="Write the notice report only; change nothing. Set false to retire the hub."
    )
    ahead_of_date_reason: str = Field(default="", description="Retire before the configured date, for this reason.")
    force_running_servers_reason: str = Field(
        default="",
        description="Retire although user servers are running (or activity cannot be checked), for this reason.",
    )
    overwrite_in_successor_reason: str = Field(
        default="",
        description=(
            "Migrate although some migrated files exist differently in the successor's homes (they are overwritten), "
            "for this reason."
        ),
    )
    namespace_timeout_s: float = Field(default=600, gt=0)


def _find_hub(context, hub_id: str, fleet: FleetResource, git: GitResource) -> tuple[Fleet, Hub]:
    """The hub from the config; a hub removed from it while deployed comes from git, as it was
    at its last recorded deploy (so an orphaned release can still be retired properly)."""
    loaded = fleet.load()
    try:
        return loaded, loaded.hub(hub_id)
    except KeyError as missing:
        deployed = latest_hub_release(context.instance, hub_id.replace("/", ".", 1))
        sha = deployed.git_sha if deployed else ""
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
                f"{hub_id} is not in the config and cannot be read at {sha[:12]}: {e}", allow_retries=False
            ) from None
        context.log.warning(f"{hub_id} is no longer in the config: retiring it as defined at {sha[:12]}")
        return old, old.hub(hub_id)


@dg.op(
    out={"retire": dg.Out(Retirement, is_required=False), "expire": dg.Out(Retirement, is_required=False)},
    tags={"hub_ops/kind": "plan"},
)
def plan_decommission(
    context: dg.OpExecutionContext,
    config: DecommissionConfig,
    fleet: FleetResource,
    git: GitResource,
    storage: StorageResource,
    sops: SopsResource,
    hub_api: JupyterHubResource,
    clock: ClockResource,
):
    """Where the hub stands: notice (dry run), retire, expire its backups, or nothing to do."""
    hub_id = hub_of_run(context)
    today = clock.today()
    loaded, hub = _find_hub(context, hub_id, fleet, git)
    if hub.decommission is None:
        raise dg.Failure(f"{hub.id} has no `decommission:` block in its cluster.yaml", allow_retries=False)
    when = standing(hub, today)
    successor = None
    if hub.decommission.successor:
        succ = hub.decommission.successor
        successor = loaded.hub(succ if "/" in succ else f"{hub.cluster}/{succ}").id
    retirement = Retirement(
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

    records = decommission_records(context.instance)
    record = records.get(hub.id)
    if record and record.retired:
        if record.state == DECOMMISSIONED and today >= when.keep_backups_until and not config.dry_run:
            yield dg.Output(retirement, "expire")
        else:
            context.log.info(
                f"{hub.id}: {record.state} on {record.decommissioned_on}; backups kept until "
                f"{record.keep_backups_until}: nothing to do"
            )
        return
    if config.dry_run:
        _write_notice(context, loaded, hub, when, retirement, set(records), storage, sops, hub_api)
        return
    if when.phase != "due" and not config.ahead_of_date_reason:
        raise dg.Failure(
            f"{hub.id} is due on {hub.decommission.on} ({when.days_left} days left); give "
            "ahead_of_date_reason to retire it earlier",
            allow_retries=False,
        )
    retirement.journal = read_journal(context.instance, hub.partition_key)
    if retirement.journal:
        context.log.info(f"{hub.id}: resuming; already done: {', '.join(retirement.journal)}")
    if config.ahead_of_date_reason and when.phase != "due":
        record_step(context, retirement, "ahead_of_date", config.ahead_of_date_reason)
    yield dg.Output(retirement, "retire")


def _write_notice(
    context, fleet: Fleet, hub: Hub, when: Standing, retirement: Retirement, retired: set[str], storage, sops, hub_api
) -> None:
    summaries = Repository.open(retirement.destination, storage.client()).summaries(hub.id) if hub.home else []
    report = notice_report(
        fleet,
        hub,
        when,
        destination=retirement.destination,
        successor=retirement.successor,
        last_snapshot=summaries[-1] if summaries else None,
        active_users=_active_users(fleet, hub, sops, hub_api),
        cost=cost_per_day(storage.client(), fleet.settings.reports.destination, hub.cluster, hub.name),
        leftovers=cluster_leftovers(fleet, hub, retired, observed_node_pools(context.instance).get(hub.cluster, [])),
    )
    context.log_event(
        dg.AssetMaterialization(
            asset_key=DECOMMISSION_NOTICES,
            partition=hub.partition_key,
            description=f"{hub.id} is retired on {hub.decommission.on} ({when_text(when.days_left)})",
            metadata={
                "report": table(report.rows(), ["what", "detail"]),
                "on": hub.decommission.on.isoformat(),
                "days_left": when.days_left,
                "phase": when.phase,
            },
        )
    )


def _hub_api_client(fleet: Fleet, hub: Hub, sops: SopsResource, hub_api: JupyterHubResource):
    return hub_api.for_hub(fleet, hub, sops.client())


def _active_users(fleet: Fleet, hub: Hub, sops: SopsResource, hub_api: JupyterHubResource) -> str:
    try:
        api = _hub_api_client(fleet, hub, sops, hub_api)
        return str(api.users_active_since(30)) if api else "unknown (no hub-ops token in the hub's values)"
    except Exception as e:  # the notice reports what it could not learn
        return f"unknown ({e})"


def lease_holder(hub_id: str) -> str:
    """One holder name per hub, so a rerun after a crash takes over the Lease at once."""
    return f"decommission {hub_id}"


@contextmanager
def _hub_lease(context, retirement: Retirement, kube: KubeResource, *, give_back: bool = False) -> Iterator[None]:
    """Hold the hub's Lease for one step (kept when the step ends, for the next one; given
    back with `give_back`). A failure before teardown began gives it back: nothing was torn
    down, a deploy may go on. After that it is kept until it expires."""
    fleet = retirement.fleet()
    hub = fleet.hub(retirement.hub)
    holder = lease_holder(retirement.hub)
    with kube.hub_lock_if_api(fleet, hub, holder, keep=not give_back, log=context.log.info) as lease:
        try:
            yield
            if lease is not None:
                lease.check()
        except BaseException:
            if lease is not None and not retirement.teardown_began:
                lease.release()
            elif lease is not None:
                context.log.warning(
                    f"{retirement.hub}: teardown began: the hub's Lease stays with {holder!r} until it expires "
                    f"({kube.lease_ttl_s} s), and deploys skip the hub (its record says `{TEARDOWN_BEGAN}`); "
                    "rerun decommission_job to finish"
                )
            raise


@dg.op(tags={"hub_ops/kind": "gate"})
def gate_no_running_servers(
    context: dg.OpExecutionContext,
    retirement: Retirement,
    sops: SopsResource,
    kube: KubeResource,
    hub_api: JupyterHubResource,
) -> Retirement:
    """Gate: no user server runs (JupyterHub API and singleuser pods, both must answer),
    unless forced with a reason."""
    with _hub_lease(context, retirement, kube):
        if retirement.teardown_began:
            return retirement  # the release is (being) removed: nobody can be running on it
        _gate(context, retirement, sops, kube, hub_api)
    return retirement


def _gate(context, retirement: Retirement, sops: SopsResource, kube: KubeResource, hub_api: JupyterHubResource):
    fleet = retirement.fleet()
    hub = fleet.hub(retirement.hub)
    api = client = None
    why_not = {}
    try:
        api = _hub_api_client(fleet, hub, sops, hub_api)
        if api is None:
            why_not["JupyterHub API"] = "no hub-ops service token in the hub's values"
    except ValuesError as e:
        why_not["JupyterHub API"] = str(e)
    cluster = fleet.clusters[hub.cluster]
    if not kube.has_api(cluster):
        why_not["pods"] = f"{hub.cluster} has no cluster API configured"
    else:
        try:
            client = kube.client(fleet, cluster)
        except ClusterUnreachable as e:
            why_not["pods"] = str(e)
    gate = check_no_servers(api, client, hub.effective_namespace, why_not)
    if not gate.passed:
        if not retirement.force_running:
            raise dg.Failure(
                f"{retirement.hub}: gate closed: {gate.describe()}. Nothing was changed. Ask users to stop, or give "
                "force_running_servers_reason.",
                allow_retries=False,
            )
        forced = f"FORCED ({retirement.force_running}): {gate.describe()}"
        record_step(context, retirement, "gate_no_running_servers", forced)
    else:
        record_step(context, retirement, "gate_no_running_servers", gate.describe())


@dg.op(tags={"hub_ops/kind": "backup"})
def final_backup(
    context: dg.OpExecutionContext,
    retirement: Retirement,
    storage: StorageResource,
    backup_runner: BackupRunnerResource,
    kube: KubeResource,
) -> Retirement:
    """A snapshot of the hub's homes (incremental; retaken on a rerun until teardown began)."""
    with _hub_lease(context, retirement, kube):
        return _final_backup(context, retirement, storage, backup_runner)


def _final_backup(context, retirement: Retirement, storage, backup_runner: BackupRunnerResource) -> Retirement:
    fleet = retirement.fleet()
    hub = fleet.hub(retirement.hub)
    if hub.home is None:
        record_step(context, retirement, "final_backup", "the hub has no home directories to back up")
        return retirement
    if retirement.teardown_began:
        if retirement.final_snapshot is None:
            raise dg.Failure(f"{retirement.hub}: teardown began but no final backup is recorded", allow_retries=False)
        context.log.info(f"teardown began: keeping final snapshot {retirement.final_snapshot}")
        return retirement
    summary = backup_runner.backup(context, fleet, hub, storage.client())
    record_step(
        context,
        retirement,
        "final_backup",
        f"snapshot {summary.id}: {summary.files} files, {summary.bytes} bytes",
        snapshot_id=summary.id,
        files=summary.files,
        bytes=summary.bytes,
    )
    return retirement


@dg.op(tags={"hub_ops/kind": "gate"})
def verify_final_backup(
    context: dg.OpExecutionContext, retirement: Retirement, storage: StorageResource, kube: KubeResource
) -> Retirement:
    """Gate: every content of the final snapshot is read back and re-hashed."""
    with _hub_lease(context, retirement, kube):
        return _verify_final_backup(context, retirement, storage)


def _verify_final_backup(context, retirement: Retirement, storage: StorageResource) -> Retirement:
    snapshot_id = retirement.final_snapshot
    if snapshot_id is None:
        return retirement
    repo = Repository.open(retirement.destination, storage.client())
    from hub_ops.backup.verify import verify_snapshot  # numpy: not at load

    report = verify_snapshot(repo, retirement.hub, snapshot_id, deep=True)
    if not report.ok:
        raise dg.Failure(
            f"{retirement.hub}: final backup {snapshot_id} failed deep verification; nothing was deleted:\n"
            + "\n".join(report.problems[:20]),
            allow_retries=False,
        )
    record_step(
        context,
        retirement,
        "verify_final_backup",
        f"{report.files} files, {report.contents} contents re-hashed: all good",
        snapshot_id=snapshot_id,
    )
    return retirement


def _compare(
    context, retirement: Retirement, fleet: Fleet, target_hub: Hub, storage, runner: BackupRunnerResource
) -> Comparison:
    snapshot_id = retirement.final_snapshot
    home = local_home(fleet, target_hub)
    if home is not None:
        repo = Repository.open(retirement.destination, storage.client())
        return compare_with_snapshot(repo, retirement.hub, snapshot_id, home)
    # the successor's homes are on a cluster volume: compare in a pod that mounts them
    command = ["hub-ops", "compare-homes", "--hub", retirement.hub, "--dest", retirement.destination]
    command += ["--snapshot", snapshot_id, "--target", HOME_MOUNT]
    tail = runner.run_home_pod(context, fleet, target_hub, command, read_only=True, kind="compare")
    line = next((line for line in reversed(tail.splitlines()) if line.startswith("{")), None)
    if line is None:
        raise dg.Failure(f"the compare pod for {target_hub.id} printed no result:\n{tail[-2000:]}")
    return Comparison(**json.loads(line))


@dg.op(tags={"hub_ops/kind": "restore"})
def migrate_homes_to_successor(
    context: dg.OpExecutionContext,
    retirement: Retirement,
    storage: StorageResource,
    backup_runner: BackupRunnerResource,
    kube: KubeResource,
) -> Retirement:
    """Restore the final snapshot into the successor's homes (holding the successor's Lease
    too, for the copy); files that exist there differently stop the run (a gate) unless
    overwriting is given a reason."""
    with _hub_lease(context, retirement, kube):
        return _migrate(context, retirement, storage, backup_runner)


def _migrate(context, retirement: Retirement, storage, backup_runner: BackupRunnerResource) -> Retirement:
    if not retirement.successor or retirement.final_snapshot is None:
        return retirement
    fleet = retirement.fleet()
    hub, successor = fleet.hub(retirement.hub), fleet.hub(retirement.successor)
    before = _compare(context, retirement, fleet, successor, storage, backup_runner)
    if before.differing_count and not retirement.overwrite_reason:
        raise dg.Failure(
            f"{retirement.hub}: {before.differing_count} migrated path(s) exist differently in {successor.id}'s homes "
            f"(e.g. {', '.join(before.differing[:10])}); nothing was deleted. Move them aside, or give "
            "overwrite_in_successor_reason.",
            allow_retries=False,
        )
    snapshot_id = retirement.final_snapshot
    backup_runner.restore(
        context,
        fleet,
        hub,
        snapshot_id,
        storage.client(),
        into_hub=successor,
        overwrite_newer_reason=retirement.overwrite_reason,
        holder=f"{lease_holder(retirement.hub)} (migration)",
    )
    note = f" (overwrote {before.differing_count}: {retirement.overwrite_reason})" if before.differing_count else ""
    result = f"snapshot {snapshot_id} restored into {successor.id}{note}"
    record_step(context, retirement, "migrate_homes", result, snapshot_id=snapshot_id)
    return retirement


@dg.op(tags={"hub_ops/kind": "gate"})
def verify_migration(
    context: dg.OpExecutionContext,
    retirement: Retirement,
    storage: StorageResource,
    backup_runner: BackupRunnerResource,
    kube: KubeResource,
) -> Retirement:
    """Gate: every file of the snapshot is in the successor's homes, same size and time."""
    with _hub_lease(context, retirement, kube):
        return _verify_migration(context, retirement, storage, backup_runner)


def _verify_migration(context, retirement: Retirement, storage, backup_runner: BackupRunnerResource) -> Retirement:
    if not retirement.successor or retirement.final_snapshot is None:
        return retirement
    fleet = retirement.fleet()
    after = _compare(context, retirement, fleet, fleet.hub(retirement.successor), storage, backup_runner)
    if not after.complete:
        raise dg.Failure(
            f"{retirement.hub}: migration into {retirement.successor} incomplete: {after.describe()}; "
            "nothing was deleted",
            allow_retries=False,
        )
    record_step(context, retirement, "verify_migration", after.describe(), files=after.files, bytes=after.bytes)
    return retirement


def _teardown(context, retirement: Retirement, kube: KubeResource, step: str, action) -> Retirement:
    """Run a teardown step once, under the hub's Lease: recorded by an earlier, interrupted
    run -> not done again; a local cluster without an API (the demo) -> nothing is deployed
    there; else `action(fleet, hub)`, whose result text is journaled. Before the first one
    the hub is recorded as `teardown began` (deploys and backups skip it from then on)."""
    with _hub_lease(context, retirement, kube):
        if step in retirement.journal:
            context.log.info(f"{retirement.hub}: {step} done by an earlier run: {retirement.journal[step]['result']}")
            return retirement
        fleet = retirement.fleet()
        hub = fleet.hub(retirement.hub)
        if not retirement.teardown_began:
            _record_teardown_began(context, retirement)
        if not kube.has_api(fleet.clusters[hub.cluster]):
            record_step(
                context, retirement, step, f"skipped: {hub.cluster} has no cluster API configured (nothing deployed)"
            )
            return retirement
        record_step(context, retirement, step, action(fleet, hub))
        return retirement


def _record_teardown_began(context, retirement: Retirement) -> None:
    """From here the hub is half torn down until the record: say so where deploys look."""
    record_step(context, retirement, TEARDOWN_BEGAN_STEP, f"run {context.run_id}")
    record = DecommissionRecord(
        hub=retirement.hub,
        state=TEARDOWN_BEGAN,
        decommissioned_on=retirement.today,
        keep_backups_until=retirement.keep_backups_until,
        successor=retirement.successor or "",
        final_snapshot=retirement.final_snapshot or "",
        destination=retirement.destination,
    )
    description = f"{retirement.hub}: teardown began on {retirement.today} (helm uninstall, then the namespace)"
    context.log_event(record.materialization(retirement.partition, description))


@dg.op(tags={"hub_ops/kind": "helm"})
def uninstall_release(context: dg.OpExecutionContext, retirement: Retirement, kube: KubeResource) -> Retirement:
    """helm uninstall the hub's release (already gone is success)."""

    def action(fleet: Fleet, hub: Hub) -> str:
        helm = kube.helm(fleet, fleet.clusters[hub.cluster])
        try:
            return uninstall(helm, hub_release(fleet, hub))
        finally:
            helm.close()

    return _teardown(context, retirement, kube, "uninstall_release", action)


@dg.op(tags={"hub_ops/kind": "kubernetes"})
def delete_hub_namespace(context: dg.OpExecutionContext, retirement: Retirement, kube: KubeResource) -> Retirement:
    """Delete the hub's namespace and wait until it is gone (already gone is success)."""

    def action(fleet: Fleet, hub: Hub) -> str:
        client = kube.client(fleet, fleet.clusters[hub.cluster])
        return delete_namespace(client, hub.effective_namespace, retirement.namespace_timeout_s)

    return _teardown(context, retirement, kube, "delete_hub_namespace", action)


@dg.op(tags={"hub_ops/kind": "record"})
def record_decommission(context: dg.OpExecutionContext, retirement: Retirement, kube: KubeResource) -> None:
    """The hub is decommissioned: every step's result, in one record; then its Lease is given back."""
    with _hub_lease(context, retirement, kube, give_back=True):
        _record(context, retirement)


def _record(context, retirement: Retirement) -> None:
    fleet = retirement.fleet()
    hub = fleet.hub(retirement.hub)
    retired = set(decommission_records(context.instance))
    pools = observed_node_pools(context.instance).get(hub.cluster, [])
    record = DecommissionRecord(
        hub=retirement.hub,
        state=DECOMMISSIONED,
        decommissioned_on=retirement.today,
        keep_backups_until=retirement.keep_backups_until,
        successor=retirement.successor or "",
        final_snapshot=retirement.final_snapshot or "",
        destination=retirement.destination,
        steps=retirement.steps(),
        left_on_cluster=cluster_leftovers(fleet, hub, retired, pools) or "other hubs still run on this cluster",
    )
    description = f"{retirement.hub} decommissioned on {retirement.today}"
    context.log_event(record.materialization(retirement.partition, description))
    # the notice now says what happened, not "in N days"
    retired = retired_report(
        retirement.hub,
        retirement.today,
        successor=record.successor,
        final_snapshot=record.final_snapshot,
        destination=record.destination,
        keep_backups_until=record.keep_backups_until,
    )
    context.log_event(
        dg.AssetMaterialization(
            asset_key=DECOMMISSION_NOTICES,
            partition=retirement.partition,
            description=f"{retirement.hub} was retired on {retirement.today}",
            metadata={
                "report": table(retired.rows(), ["what", "detail"]),
                "on": retirement.today,
                "days_left": 0,
                "phase": "retired",
            },
        )
    )


@dg.op(tags={"hub_ops/kind": "backup-prune"})
def expire_backups(context: dg.OpExecutionContext, retirement: Retirement, storage: StorageResource) -> None:
    """After keep_backups_days: forget every snapshot of the retired hub, collect its blobs."""
    repo = Repository.open(retirement.destination, storage.client())
    from hub_ops.decommission.expiry import expire_hub_backups  # numpy (prune): not at load

    report = expire_hub_backups(repo, retirement.hub, log=context.log.info)
    previous = decommission_records(context.instance)[retirement.hub]
    record = dataclasses.replace(
        previous,
        state=BACKUPS_EXPIRED,
        backups_expired_on=retirement.today,
        snapshots_forgotten=len(report.forgotten),
        blobs_deleted=report.blobs_deleted,
        bytes_deleted=report.bytes_deleted,
        blob_collection=report.gc_skipped or "done",
    )
    description = f"{retirement.hub}: backups expired on {retirement.today}"
    context.log_event(record.materialization(retirement.partition, description))


@dg.job(
    tags={"hub_ops/kind": "decommission"},
    config=hub_partitioned_config("decommission", {"ops": {"plan_decommission": {"config": {"dry_run": True}}}}),
    description=(
        "Retire a hub (the partition) behind gates: no running servers, a deep-verified final backup, its homes "
        "migrated to the successor and verified; then helm uninstall and namespace deletion. dry_run (the default) "
        "writes the notice report only."
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
