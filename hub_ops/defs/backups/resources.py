"""Where a hub's backup runs: this process for homes on a local path, a pod in the hub's
cluster and namespace for homes on a PVC or an NFS export (see pods.py)."""

import os
import time
import uuid

import dagster as dg

from hub_ops.backup import (BackupError, BackupOptions, Repository, RestoreReport, SnapshotSummary, create_snapshot,
                            restore_snapshot)
from hub_ops.backup.config import backup_destination, local_home
from hub_ops.defs.backups.pods import backup_command, home_k8s_config, restore_command
from hub_ops.fleet import Fleet
from hub_ops.fleet.models import Hub
from hub_ops.resources.storage import Storage


class BackupRunnerResource(dg.ConfigurableResource):
    """Runs backups and restores of a hub's homes where those homes are mounted."""

    image: str = "hub-ops:latest"  # the hub_ops image backup pods run
    service_account_name: str | None = None  # with write access to the destination (workload identity)
    kubeconfig: str | None = None  # clusters without a kubeconfig of their own; None: in-cluster config
    pod_env: dict[str, str] = {}  # e.g. {"HUB_OPS_ENV": "production"}
    pod_timeout_s: int = 6 * 3600
    workers: int | None = None  # readers/uploaders per backup; None: the engine's default
    nfs_walk_threads: int = 8  # homes walked side by side on a cluster volume (NFS latency)

    # ------------------------------------------------------------ helpers

    def _kube(self, fleet: Fleet, hub: Hub) -> tuple[bool, str | None, str | None]:
        """(load in-cluster config, kubeconfig file, context) for the hub's cluster."""
        cluster = fleet.clusters[hub.cluster]
        if cluster.provider == "local" and cluster.local and cluster.local.kubeconfig:
            return False, os.path.expandvars(cluster.local.kubeconfig), cluster.local.context
        if self.kubeconfig:
            return False, self.kubeconfig, None
        return True, None, None

    def _run_pod(self, context: dg.OpExecutionContext, fleet: Fleet, hub: Hub, command: list[str], read_only: bool,
                 kind: str) -> None:
        from dagster_k8s import execute_k8s_job

        in_cluster, kubeconfig, kube_context = self._kube(fleet, hub)
        config = home_k8s_config(hub, read_only=read_only)
        name = f"hub-ops-{kind}-{hub.name}-{uuid.uuid4().hex[:8]}"[:63]
        context.log.info(f"{kind} of {hub.id} in a pod: job {name} in namespace {hub.effective_namespace}")
        execute_k8s_job(
            context, image=self.image, command=command, namespace=hub.effective_namespace,
            service_account_name=self.service_account_name,
            env_vars=[f"{k}={v}" for k, v in self.pod_env.items()],
            container_config=config["container_config"], pod_spec_config=config["pod_spec_config"],
            load_incluster_config=in_cluster, kubeconfig_file=kubeconfig, _kubeconfig_file_context=kube_context,
            timeout=self.pod_timeout_s, k8s_job_name=name,
        )

    # ------------------------------------------------------------ backups

    def backup(self, context: dg.OpExecutionContext, fleet: Fleet, hub: Hub, storage: Storage) -> SnapshotSummary:
        """Take the hub's snapshot; returns its summary. Idempotent in effect: a rerun
        takes another snapshot, reusing everything already stored."""
        destination = backup_destination(fleet, hub)
        repo = Repository.open(destination, storage)
        compression = fleet.settings.backups.compression
        source = local_home(fleet, hub)
        if source is not None:
            return create_snapshot(repo, hub.id, source, BackupOptions(compression=compression, workers=self.workers),
                                   log=context.log.info)
        before = set(repo.snapshot_ids(hub.id))
        self._run_pod(context, fleet, hub, backup_command(hub, destination, compression, self.nfs_walk_threads),
                      read_only=True, kind="backup")
        new = sorted(set(repo.snapshot_ids(hub.id)) - before)
        if not new:
            raise BackupError(f"the backup pod of {hub.id} finished but no new snapshot is in {destination}")
        return repo.summary(hub.id, new[-1])

    def restore(self, context: dg.OpExecutionContext, fleet: Fleet, source: Hub, snapshot: str, storage: Storage, *,
                into_hub: Hub | None = None, into_path: str | None = None, user: str | None = None) -> RestoreReport | None:
        """Restore `snapshot` of `source` into another hub's homes (a migration) or a folder.
        Rerunnable: files already restored are skipped. Returns the report when it ran
        here (a pod's report is in its log)."""
        destination = backup_destination(fleet, source)
        repo = Repository.open(destination, storage)
        snapshot_id = repo.resolve(source.id, snapshot)
        if into_path is None and into_hub is not None:
            home = local_home(fleet, into_hub)
            if home is None:
                self._run_pod(context, fleet, into_hub, restore_command(source.id, destination, snapshot_id, user),
                              read_only=False, kind="restore")
                return None
            into_path = str(home)
        if into_path is None:
            raise BackupError("restore needs a target hub or a target folder")
        started = time.monotonic()
        report = restore_snapshot(repo, source.id, into_path, snapshot_id, user=user, log=context.log.info)
        context.log.info(f"restored {report.files} files in {time.monotonic() - started:.1f} s")
        return report
