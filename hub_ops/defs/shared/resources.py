"""The Dagster resources several domains use, and the choice of them per environment.

Each wraps a client of hub_ops.clients (or the fleet loader) and holds only configuration:
the fleet folder, storage, the watched git remote, sops, the clusters' APIs, the hubs'
REST APIs, where a hub's homes are backed up and restored, and the date the gates read.
`shared_resources` picks their values from hub_ops.settings once, when the definitions
load: the environment switch is data (LOCAL / PRODUCTION below), read nowhere else.

They are bound as `FromSettings` resources, which take no run config: Dagster OSS has no
login, and a Launchpad `resources:` block must not turn off TLS checks, swap the sops key,
the backup pods' image or service account, the fleet folder, the lease timings or the date.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from hub_ops.backup.config import backup_destination, backup_workers, local_home, worker_budget
from hub_ops.backup.errors import BackupError
from hub_ops.backup.manifest import SnapshotSummary
from hub_ops.backup.repository import Repository
from hub_ops.backup.worker_count import WorkerChoice, choose_workers
from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.git import FleetRemote, watched_remote
from hub_ops.clients.helm import HelmClient
from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.kube import ClusterAccess, KubeClient
from hub_ops.clients.leases import HeldLease, LeaseBusy, hub_lease_name
from hub_ops.clients.sops import Sops
from hub_ops.clients.storage import Storage
from hub_ops.defs.shared.home_pods import backup_command, home_job, plan_command, restore_command
from hub_ops.deploy.runner import find_service_token
from hub_ops.deploy.values import load_values_files
from hub_ops.fleet import Fleet, load_fleet
from hub_ops.fleet.models import Cluster, Hub
from hub_ops.settings import Settings, get_settings, secret

if TYPE_CHECKING:
    from hub_ops.backup.restore import RestoreReport

SCRATCH_FOLDER = ".hub-ops-restored"  # beside the users' homes: where a restore goes unless told otherwise


class FleetResource(dg.ConfigurableResource):
    """The fleet config, loaded from a folder (a checkout of the fleet repo)."""

    root: str = "deployments"

    def load(self, check_files: bool = False) -> Fleet:
        return load_fleet(self.root, check_files=check_files)


class StorageResource(dg.ConfigurableResource):
    """Object storage through fsspec (hub_ops.clients.storage.Storage): gs://, s3:// and az://
    mapped under local_root when it is set (except the services in `remote`), else sent to
    their clouds or to gcs_endpoint / s3_endpoint. The GCS token is `gcs_token`, or read from
    the variable `gcs_token_env` names when a client is made; AWS and Azure credentials are
    read by their SDKs (so no secret is held by a resource or shown anywhere)."""

    local_root: str | None = None
    gcs_endpoint: str | None = None
    gcs_token: str | None = None
    gcs_token_env: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    remote: list[str] = []

    def client(self) -> Storage:
        token = self.gcs_token or (secret(self.gcs_token_env) if self.gcs_token_env else None)
        return Storage(
            self.local_root,
            self.gcs_endpoint,
            token,
            s3_endpoint=self.s3_endpoint,
            s3_region=self.s3_region,
            remote=frozenset(self.remote),
        )


class GitResource(dg.ConfigurableResource):
    """The fleet repo's watched branch; remote and branch default to fleet.yaml `git:`."""

    remote: str | None = None
    branch: str | None = None
    cache_dir: str

    def remote_for(self, fleet_root: str | Path) -> FleetRemote:
        return watched_remote(fleet_root, self.cache_dir, self.remote, self.branch)


class SopsResource(dg.ConfigurableResource):
    """sops decryption; age_key_file None uses SOPS_AGE_KEY_FILE / KMS through ADC."""

    age_key_file: str | None = None

    def client(self) -> Sops:
        return Sops(self.age_key_file)


class KubeResource(dg.ConfigurableResource):
    """Each cluster's Kubernetes API (and Helm on it), reached from its provider block;
    `sops` decrypts the kubeconfigs and keys that block names, in memory."""

    sops: SopsResource
    lease_ttl_s: int = 120  # a holder that dies frees its hub this long after
    lease_wait_s: float = 600.0  # how long a run waits for another run's change to the hub

    def access(self, fleet: Fleet, cluster: Cluster) -> ClusterAccess:
        gke_access = None
        if cluster.provider == "gcp":
            from hub_ops.clients.gke import cluster_access as gke_access
        return cluster_access(fleet, cluster, self.sops.client(), gke_access)

    def client(self, fleet: Fleet, cluster: Cluster) -> KubeClient:
        """The cluster's API; ClusterUnreachable says why there is none."""
        return KubeClient(self.access(fleet, cluster), name=cluster.name)

    def helm(self, fleet: Fleet, cluster: Cluster) -> HelmClient:
        """Helm on the cluster (close() it when done)."""
        return HelmClient(self.access(fleet, cluster))

    @staticmethod
    def has_api(cluster: Cluster) -> bool:
        """False only for a `local` cluster with no kubeconfig: this machine, nothing deployed
        (the demo's and `make dev`'s example fleet). Every other cluster has an API, reachable
        or not."""
        return not (cluster.provider == "local" and not (cluster.local and cluster.local.kubeconfig))

    @contextmanager
    def hub_lock(
        self, fleet: Fleet, hub: Hub, holder: str, *, keep: bool = False, log=lambda m: None
    ) -> Iterator[HeldLease]:
        """Hold the hub's Lease (hub_ops.clients.leases): deploys, restores into its homes
        and its decommission never overlap, whoever launches them."""
        kube = self.client(fleet, fleet.clusters[hub.cluster])
        name = hub_lease_name(hub.effective_namespace)
        with HeldLease(kube, name, holder, ttl=self.lease_ttl_s, wait=self.lease_wait_s, keep=keep, log=log) as lease:
            yield lease

    @contextmanager
    def hub_lock_if_api(
        self, fleet: Fleet, hub: Hub, holder: str, *, keep: bool = False, log=lambda m: None
    ) -> Iterator[HeldLease | None]:
        """`hub_lock`, except on a cluster without an API (`has_api`), which has no Lease to
        hold and nothing deployed to change: None. Runs there are ordered by the Dagster
        queue alone (dagster.yaml: one run per `hub_ops/hub` tag, which every run that
        changes a hub carries). A cluster with an API that cannot be reached fails here:
        no change to its hubs without the lock."""
        if not self.has_api(fleet.clusters[hub.cluster]):
            log(f"{hub.id}: {hub.cluster} has no cluster API: no hub Lease (the run queue orders runs)")
            yield None
            return
        try:
            lock = self.hub_lock(fleet, hub, holder, keep=keep, log=log)
            lease = lock.__enter__()
        except LeaseBusy as e:  # the run's failure, in its own words: who holds the hub
            raise dg.Failure(f"{hub.id}: {e}; nothing was changed", allow_retries=False) from None
        try:
            yield lease
        except BaseException as e:
            if not lock.__exit__(type(e), e, e.__traceback__):
                raise
        else:
            lock.__exit__(None, None, None)


class JupyterHubResource(dg.ConfigurableResource):
    """The hubs' REST APIs. url_template gets {domain}, {cluster}, {hub}."""

    url_template: str = "https://{domain}/hub/api"
    verify_tls: bool = True
    timeout: float = 10.0

    def client(self, domain: str, cluster: str, hub: str, token: str) -> HubApi:
        url = self.url_template.format(domain=domain, cluster=cluster, hub=hub)
        return HubApi(url, token, verify_tls=self.verify_tls, timeout=self.timeout)

    def for_hub(self, fleet: Fleet, hub: Hub, sops: Sops) -> HubApi | None:
        """The hub's API with the hub-ops service token from its values files (decrypted in
        memory); None when the values hold no such token."""
        token = find_service_token(load_values_files(fleet.values_paths(hub), sops, fleet.root))
        return self.client(hub.domain, hub.cluster, hub.name, token) if token else None


class ClockResource(dg.ConfigurableResource):
    """The date gates and schedules go by: the real date (UTC), or a fixed one that tests and
    the demo set through HUB_OPS_TODAY (never settable from the UI, refused in production)."""

    fixed_date: str | None = None  # YYYY-MM-DD

    def today(self) -> dt.date:
        return dt.date.fromisoformat(self.fixed_date) if self.fixed_date else dt.datetime.now(dt.UTC).date()


class BackupRunnerResource(dg.ConfigurableResource):
    """Runs backups and restores of a hub's homes where those homes are mounted: in this
    process for homes on a local path, in a Job of the hub's namespace (home_pods.py) for a
    PVC or an NFS export, reached through `kube`."""

    image: str = "hub-ops:latest"  # the hub_ops image backup pods run
    service_account_name: str | None = None  # with write access to the destination (workload identity)
    pod_env: dict[str, str] = {}  # e.g. {"HUB_OPS_ENV": "production"}
    pod_timeout_s: int = 6 * 3600
    workers: int | None = None  # readers/uploaders per backup; None: the engine's default
    nfs_walk_threads: int = 8  # homes walked side by side on a cluster volume (NFS latency)
    kube: KubeResource | None = None  # needed only for homes on a cluster volume

    def _home_job(self, fleet: Fleet, hub: Hub, command: list[str], read_only: bool, kind: str):
        name = f"hub-ops-{kind}-{hub.name}-{uuid.uuid4().hex[:8]}"[:63]
        return home_job(
            hub,
            image=self.image,
            command=command,
            job_name=name,
            read_only=read_only,
            service_account_name=self.service_account_name,
            env=self.pod_env,
            provider=fleet.clusters[hub.cluster].provider,
        )

    def _kube(self, fleet: Fleet, hub: Hub) -> KubeClient:
        if self.kube is None:
            raise BackupError(f"{hub.id}: homes on a cluster volume need the cluster's API (the `kube` resource)")
        return self.kube.client(fleet, fleet.clusters[hub.cluster])

    def _on_start(self, context, hub: Hub, kind: str):
        where = f"in namespace {hub.effective_namespace} of {hub.cluster}"
        return lambda name: context.log.info(f"{kind} of {hub.id}: job {name} {where}")

    def run_home_pod(self, context, fleet: Fleet, hub: Hub, command: list[str], read_only: bool, kind: str) -> str:
        """Run `command` (a hub-ops command) in a Job of the hub's namespace that mounts its
        homes at HOME_MOUNT; returns the tail of its log. Raises when the pod fails."""
        kube = self._kube(fleet, hub)
        job = self._home_job(fleet, hub, command, read_only, kind)
        on_start = self._on_start(context, hub, kind)
        tail = kube.run_job(hub.effective_namespace, job, timeout=self.pod_timeout_s, on_start=on_start)
        if tail:
            context.log.info(f"{kind} pod log (tail):\n{tail}")
        return tail

    def backup_in_part_jobs(
        self, context, fleet: Fleet, hub: Hub, repo: Repository, compression: str, workers: int
    ) -> SnapshotSummary:
        """A big hub on a cluster volume: a planning Job splits the users' folders into
        `workers` parts (keeping the pending plan of a failed run if the folders are the
        same), then one Job per missing part, all at once, each mounting the volume
        read-only; the snapshot is committed here once every part is stored. If a Job fails
        the others are still waited for (a rerun reuses their parts) and nothing is committed."""
        from hub_ops.backup import parts  # numpy, pyarrow: not at load

        self.run_home_pod(context, fleet, hub, plan_command(hub, repo.url, workers), read_only=True, kind="plan")
        pending = parts.pending_plans(repo, hub.id)
        if not pending:
            raise BackupError(f"the planning pod of {hub.id} finished but no plan is in {repo.url}")
        plan = parts.load_plan(repo, hub.id, pending[-1])
        missing = parts.missing_parts(repo, plan)
        done = len(plan.parts) - len(missing)
        context.log.info(
            f"plan {plan.id}: {len(plan.parts)} parts, {done} stored by an earlier run, {len(missing)} to run"
        )
        jobs = {
            i: self._home_job(
                fleet,
                hub,
                backup_command(hub, repo.url, compression, self.nfs_walk_threads, plan=plan.id, part=i),
                read_only=True,
                kind=f"backup-part{i}",
            )
            for i in missing
        }
        kube = self._kube(fleet, hub)
        results = kube.run_jobs(
            hub.effective_namespace,
            list(jobs.values()),
            timeout=self.pod_timeout_s,
            on_start=self._on_start(context, hub, "backup part"),
        )
        failed = []
        for i, job in jobs.items():
            result = results[job.metadata.name]
            if isinstance(result, Exception):
                failed.append(f"part {i} (job {job.metadata.name}): {result}")
        if failed:
            raise BackupError(
                f"{hub.id}: {len(failed)} of {len(plan.parts)} backup workers of plan {plan.id} failed; "
                "no snapshot written (a rerun runs only the missing parts):\n" + "\n".join(failed)
            )
        summary = parts.commit_parts(repo, hub.id, plan.id, log=context.log.info)
        for stale in parts.pending_plans(repo, hub.id):
            if stale < plan.id:  # superseded: its folders changed before a rerun
                context.log.info(f"discarding plan {stale} of {hub.id}, superseded by {plan.id}")
                parts.discard_plan(repo, hub.id, stale)
        return summary

    @staticmethod
    def choose_workers(fleet: Fleet, hub: Hub, repo: Repository, snapshot_id: str | None = None) -> WorkerChoice:
        """How many workers back up `hub` (or restore its `snapshot_id`): `backups.workers`, or
        for `auto` the count its last snapshot (or `snapshot_id`) and the fleet's budget call for."""
        setting = backup_workers(hub)
        last = None
        if setting == "auto":
            ids = repo.snapshot_ids(hub.id) if snapshot_id is None else [snapshot_id]
            last = repo.summary(hub.id, ids[-1]) if ids else None
        return choose_workers(setting, worker_budget(fleet), last)

    def backup(
        self, context, fleet: Fleet, hub: Hub, storage: Storage, workers: WorkerChoice | None = None
    ) -> SnapshotSummary:
        """Take the hub's snapshot with `workers` (default: `choose_workers`); returns its
        summary. A rerun takes another snapshot, reusing everything already stored."""
        destination = backup_destination(fleet, hub)
        repo = Repository.open(destination, storage)
        compression = fleet.settings.backups.compression
        source = local_home(fleet, hub)
        workers = workers or self.choose_workers(fleet, hub, repo)
        context.log.info(f"{hub.id}: {workers.workers} backup worker(s); {workers.reason}")
        parallel = workers.workers
        if source is not None and parallel > 1:
            from hub_ops.backup.parts import commit_parts, make_plan, run_part_processes
            from hub_ops.backup.snapshot import BackupOptions  # numpy, pyarrow: not at load

            plan = make_plan(repo, hub.id, source, parallel)
            options = BackupOptions(compression=compression, workers=self.workers)
            run_part_processes(destination, storage, plan, options)
            return commit_parts(repo, hub.id, plan.id, log=context.log.info)
        if source is not None:
            from hub_ops.backup.snapshot import BackupOptions, create_snapshot  # numpy, pyarrow: not at load

            options = BackupOptions(compression=compression, workers=self.workers)
            return create_snapshot(repo, hub.id, source, options, log=context.log.info)
        if parallel > 1:
            return self.backup_in_part_jobs(context, fleet, hub, repo, compression, parallel)
        before = set(repo.snapshot_ids(hub.id))
        command = backup_command(hub, destination, compression, self.nfs_walk_threads)
        self.run_home_pod(context, fleet, hub, command, read_only=True, kind="backup")
        new = sorted(set(repo.snapshot_ids(hub.id)) - before)
        if not new:
            raise BackupError(f"the backup pod of {hub.id} finished but no new snapshot is in {destination}")
        return repo.summary(hub.id, new[-1])

    def restore(
        self,
        context,
        fleet: Fleet,
        source: Hub,
        snapshot: str,
        storage: Storage,
        *,
        into_hub: Hub | None = None,
        into_path: str | None = None,
        subfolder: str = "",
        users: list[str] | None = None,
        overwrite_newer_reason: str = "",
        holder: str | None = None,
        workers: WorkerChoice | None = None,
    ) -> RestoreReport | None:
        """Restore `snapshot` of `source` into a hub's homes (its own: a restore; another's:
        a migration), into `subfolder` of them (a scratch folder beside the users' homes),
        or into a folder `into_path`. Rerunnable: files already restored are skipped; files
        newer in the target than in the snapshot are kept unless `overwrite_newer_reason`.
        Writing into a hub holds its Lease (`KubeResource.hub_lock_if_api`) for the whole
        restore, as `holder` (default: this run), so no deploy or decommission of that hub
        runs meanwhile. A whole hub (no `users`) is restored by `workers` (default:
        `choose_workers` for the snapshot) side by side when there are several, each its
        share of the users' folders (restore_parts.py). Returns the report when it ran here
        in one piece (a pod's or worker process's counts are in its log)."""
        destination = backup_destination(fleet, source)
        repo = Repository.open(destination, storage)
        snapshot_id = repo.resolve(source.id, snapshot)
        if into_hub is None:
            if into_path is None:
                raise BackupError("restore needs a target hub or a target folder")
            return self._restore_here(context, repo, source, snapshot_id, into_path, users, overwrite_newer_reason)
        if self.kube is None:
            raise BackupError(f"{into_hub.id}: a restore into a hub holds its Lease: it needs the `kube` resource")
        holder = holder or f"restore {context.run_id}"
        shares = [] if users else self._restore_shares(context, fleet, source, repo, snapshot_id, workers)
        with self.kube.hub_lock_if_api(fleet, into_hub, holder, log=context.log.info) as lease:
            home = local_home(fleet, into_hub)
            if len(shares) > 1:
                where = (destination, storage, home, subfolder)
                self._restore_shares_side_by_side(
                    context, fleet, into_hub, where, source.id, snapshot_id, shares, overwrite_newer_reason
                )
                report = None
            elif home is not None:
                target = str(home / subfolder) if subfolder else str(home)
                report = self._restore_here(context, repo, source, snapshot_id, target, users, overwrite_newer_reason)
            else:
                command = restore_command(
                    source.id,
                    destination,
                    snapshot_id,
                    users,
                    subfolder=subfolder,
                    overwrite_newer_reason=overwrite_newer_reason,
                )
                self.run_home_pod(context, fleet, into_hub, command, read_only=False, kind="restore")
                report = None
            if lease is not None:
                lease.check()  # the Lease was ours all along (LeaseLost otherwise)
        return report

    def _restore_shares(
        self, context, fleet: Fleet, source: Hub, repo: Repository, snapshot_id: str, workers: WorkerChoice | None
    ) -> list:
        """A whole-hub restore's shares of the users' folders: one per worker (restore_parts.py)."""
        choice = workers or self.choose_workers(fleet, source, repo, snapshot_id)
        if choice.workers == 1:
            return []
        from hub_ops.backup.restore_parts import restore_shares  # pyarrow: not at load

        shares = restore_shares(repo, source.id, snapshot_id, choice.workers)
        context.log.info(
            f"restore of {source.id} {snapshot_id}: {len(shares)} worker(s) ({choice.reason}); folders per worker: "
            + ", ".join(str(len(share)) for share in shares)
        )
        return shares

    def _restore_shares_side_by_side(
        self,
        context,
        fleet: Fleet,
        into_hub: Hub,
        where: tuple,
        source_id: str,
        snapshot_id: str,
        shares: list[list[str]],
        overwrite_newer_reason: str,
    ) -> None:
        """Each share restored by a worker of its own, all at once: processes for local homes,
        else one Job per share mounting the homes. A failed worker fails the restore naming
        it, after every other has finished; a rerun skips the files already restored.
        `where`: the destination URL and its Storage, the local homes (None: a cluster
        volume) and the subfolder of them to restore into."""
        destination, storage, home, subfolder = where
        if home is not None:
            from hub_ops.backup.restore_parts import restore_in_processes  # pyarrow: not at load

            target = str(home / subfolder) if subfolder else str(home)
            restore_in_processes(
                destination,
                storage,
                source_id,
                snapshot_id,
                target,
                shares,
                overwrite_newer=bool(overwrite_newer_reason),
            )
            return
        count = len(shares)
        jobs = [
            self._home_job(
                fleet,
                into_hub,
                restore_command(
                    source_id,
                    destination,
                    snapshot_id,
                    None,
                    subfolder=subfolder,
                    overwrite_newer_reason=overwrite_newer_reason,
                    share=(i, count),
                ),
                read_only=False,
                kind=f"restore-part{i}",
            )
            for i in range(count)
        ]
        results = self._kube(fleet, into_hub).run_jobs(
            into_hub.effective_namespace,
            jobs,
            timeout=self.pod_timeout_s,
            on_start=self._on_start(context, into_hub, "restore part"),
        )
        failed = [
            f"part {i} (job {job.metadata.name}, {len(shares[i])} folders): {results[job.metadata.name]}"
            for i, job in enumerate(jobs)
            if isinstance(results[job.metadata.name], Exception)
        ]
        if failed:
            raise BackupError(
                f"{into_hub.id}: {len(failed)} of {count} restore workers of {source_id} {snapshot_id} failed; "
                "the other parts are restored, and a rerun skips files already in place:\n" + "\n".join(failed)
            )

    def _restore_here(
        self, context, repo: Repository, source: Hub, snapshot_id: str, target: str, users, overwrite_newer_reason: str
    ) -> RestoreReport:
        from hub_ops.backup.restore import restore_snapshot  # numpy: not at load

        started = time.monotonic()
        report = restore_snapshot(
            repo,
            source.id,
            target,
            snapshot_id,
            users=users or None,
            overwrite_newer=bool(overwrite_newer_reason),
            log=context.log.info,
        )
        context.log.info(f"restored {report.files} files in {time.monotonic() - started:.1f} s")
        return report


class FromSettings(dg.ResourceDefinition):
    """A resource whose every value comes from the deployment's settings (hub_ops.settings,
    read when the definitions load): its config schema is empty, so a run config that sets
    any of its fields is refused. `settings_value` is the resource object itself."""

    def __init__(self, value: dg.ConfigurableResource):
        super().__init__(
            resource_fn=lambda _init: value,
            config_schema={},
            description=" ".join((type(value).__doc__ or "").split("\n\n")[0].split())
            + " From the deployment's settings: no run config.",
        )
        self.settings_value = value


def shared_resources_for(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The shared resources of an environment ("local" or "production"), as objects (tests
    and the demo use them directly; `shared_resources` binds them with no run config)."""
    fleet_root = settings.fleet_folder()
    sops = SopsResource(age_key_file=settings.age_key_file(fleet_root))
    kube = KubeResource(sops=sops)
    choice = Storage.from_settings(settings)
    token_env = "HUB_OPS_GCS_TOKEN" if settings.gcs_token_set else None
    storage = StorageResource(
        local_root=choice.local_root,
        gcs_endpoint=choice.gcs_endpoint,
        gcs_token=None if token_env else choice.gcs_token,
        gcs_token_env=token_env,
        s3_endpoint=choice.s3_endpoint,
        s3_region=choice.s3_region,
        remote=sorted(choice.remote),
    )
    # production: backup pods write the real buckets; locally, git mirrors stay under the data dir
    pod_env = {"HUB_OPS_ENV": "production", **settings.storage_pod_env()} if settings.production else {}
    git_cache = settings.cache_dir if settings.production else str(Path(settings.data_dir) / "cache")
    runner = BackupRunnerResource(
        image=settings.backup_image(),
        service_account_name=settings.backup_service_account,
        pod_env=pod_env,
        kube=kube,
    )
    return {
        "fleet": FleetResource(root=fleet_root),
        "storage": storage,
        "git": GitResource(cache_dir=git_cache),
        "sops": sops,
        "kube": kube,
        "hub_api": JupyterHubResource(),
        "backup_runner": runner,
        "clock": ClockResource(fixed_date=settings.today.isoformat() if settings.today else None),
    }


@dg.definitions
def shared_resources() -> dg.Definitions:
    return dg.Definitions(
        resources={key: FromSettings(value) for key, value in shared_resources_for(get_settings()).items()}
    )
