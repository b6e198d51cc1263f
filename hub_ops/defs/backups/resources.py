"""Where a hub's backup runs: this process for homes on a local path, a pod in the hub's
cluster and namespace for homes on a PVC or an NFS export (see pods.py). The cluster's API
comes from the `kube` resource (owned by the releases domain), as for deploys."""

import time
import uuid
from collections.abc import Callable

import dagster as dg

from hub_ops.backup import (
    BackupError,
    BackupOptions,
    Repository,
    RestoreReport,
    SnapshotSummary,
    create_snapshot,
    restore_snapshot,
)
from hub_ops.backup.config import backup_destination, local_home
from hub_ops.clients.kube import KubeClient
from hub_ops.clients.storage import Storage
from hub_ops.defs.backups.pods import backup_command, home_job, restore_command
from hub_ops.fleet import Fleet
from hub_ops.fleet.models import Cluster, Hub

KubeFor = Callable[[Cluster], KubeClient]  # the API of a hub's cluster (the `kube` resource's client)


class BackupRunnerResource(dg.ConfigurableResource):
    """Runs backups and restores of a hub's homes where those homes are mounted."""

    image: str = "hub-ops:latest"  # the hub_ops image backup pods run
    service_account_name: str | None = None  # with write access to the destination (workload identity)
    pod_env: dict[str, str] = {}  # e.g. {"HUB_OPS_ENV": "production"}
    pod_timeout_s: int = 6 * 3600
    workers: int | None = None  # readers/uploaders per backup; None: the engine's default
    nfs_walk_threads: int = 8  # homes walked side by side on a cluster volume (NFS latency)

    def run_home_pod(
        self, context, kube_for: KubeFor | None, fleet: Fleet, hub: Hub, command: list[str], read_only: bool, kind: str
    ) -> str:
        """Run `command` (a hub-ops command) in a Job of the hub's namespace that mounts its
        homes at HOME_MOUNT; returns the tail of its log. Raises when the pod fails."""
        if kube_for is None:
            raise BackupError(f"{hub.id}: homes on a cluster volume need the cluster's API (the `kube` resource)")
        name = f"hub-ops-{kind}-{hub.name}-{uuid.uuid4().hex[:8]}"[:63]
        job = home_job(
            hub,
            image=self.image,
            command=command,
            job_name=name,
            read_only=read_only,
            service_account_name=self.service_account_name,
            env=self.pod_env,
        )
        kube = kube_for(fleet.clusters[hub.cluster])
        tail = kube.run_job(
            hub.effective_namespace,
            job,
            timeout=self.pod_timeout_s,
            on_start=lambda n: context.log.info(
                f"{kind} of {hub.id}: job {n} in namespace {hub.effective_namespace} of {hub.cluster}"
            ),
        )
        if tail:
            context.log.info(f"{kind} pod log (tail):\n{tail}")
        return tail

    # ------------------------------------------------------------ backups

    def backup(
        self, context, fleet: Fleet, hub: Hub, storage: Storage, kube_for: KubeFor | None = None
    ) -> SnapshotSummary:
        """Take the hub's snapshot; returns its summary. A rerun takes another snapshot,
        reusing everything already stored."""
        destination = backup_destination(fleet, hub)
        repo = Repository.open(destination, storage)
        compression = fleet.settings.backups.compression
        source = local_home(fleet, hub)
        if source is not None:
            return create_snapshot(
                repo, hub.id, source, BackupOptions(compression=compression, workers=self.workers), log=context.log.info
            )
        before = set(repo.snapshot_ids(hub.id))
        self.run_home_pod(
            context,
            kube_for,
            fleet,
            hub,
            backup_command(hub, destination, compression, self.nfs_walk_threads),
            read_only=True,
            kind="backup",
        )
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
        user: str | None = None,
        kube_for: KubeFor | None = None,
    ) -> RestoreReport | None:
        """Restore `snapshot` of `source` into a hub's homes (its own: a restore; another's:
        a migration) or into a folder. Rerunnable: files already restored are skipped.
        Returns the report when it ran here (a pod's counts are in its log)."""
        destination = backup_destination(fleet, source)
        repo = Repository.open(destination, storage)
        snapshot_id = repo.resolve(source.id, snapshot)
        if into_path is None and into_hub is not None:
            home = local_home(fleet, into_hub)
            if home is None:
                self.run_home_pod(
                    context,
                    kube_for,
                    fleet,
                    into_hub,
                    restore_command(source.id, destination, snapshot_id, user),
                    read_only=False,
                    kind="restore",
                )
                return None
            into_path = str(home)
        if into_path is None:
            raise BackupError("restore needs a target hub or a target folder")
        started = time.monotonic()
        report = restore_snapshot(repo, source.id, into_path, snapshot_id, user=user, log=context.log.info)
        context.log.info(f"restored {report.files} files in {time.monotonic() - started:.1f} s")
        return report
