"""Backups of homes that live on a cluster volume run in a pod that mounts that volume.

A hub's `home` block says where its home directories are: a PVC in the hub's namespace
(z2jh, jupyterhub-home-nfs) or an NFS export, optionally a `sub_path` inside it. From it
`home_k8s_config` builds the dagster-k8s per-step config (the `dagster-k8s/config` shape:
`container_config.volume_mounts` + `pod_spec_config.volumes`), and `home_job` the Job that
runs `hub-ops backup` (or `restore`) in the hub's namespace with it.

Why the Job is launched by the asset (`dagster_k8s.execute_k8s_job`) rather than by tagging
the run with that config: a PVC can only be mounted from its own namespace, and in a fleet
each hub's homes are in another namespace, usually of another cluster, than Dagster's
runs; dagster-k8s's step launcher neither reads run tags for step pods nor changes the
namespace per run. The config dict is the same either way.
"""

from __future__ import annotations

import posixpath
from typing import Any

from hub_ops.backup.errors import BackupError
from hub_ops.fleet.models import Hub

HOME_MOUNT = "/hub-ops/homes"  # where the homes appear inside the pod
VOLUME_NAME = "homes"


def home_k8s_config(hub: Hub, *, read_only: bool = True) -> dict[str, Any]:
    """The dagster-k8s config mounting `hub`'s homes at HOME_MOUNT (sub_path applied).

    read_only for backups (a backup never writes to homes); writable for restores and
    migrations. Raises BackupError for a hub without a cluster volume home.
    """
    home = hub.home
    if home is None:
        raise BackupError(f"hub {hub.id} has no `home` block: nothing to mount")
    if home.pvc:
        volume: dict[str, Any] = {
            "name": VOLUME_NAME,
            "persistent_volume_claim": {"claim_name": home.pvc, "read_only": read_only},
        }
    elif home.nfs:
        volume = {
            "name": VOLUME_NAME,
            "nfs": {"server": home.nfs.server, "path": home.nfs.path, "read_only": read_only},
        }
    else:
        raise BackupError(f"hub {hub.id}: home is a local path ({home.local_path}), not a cluster volume")
    mount: dict[str, Any] = {"name": VOLUME_NAME, "mount_path": HOME_MOUNT, "read_only": read_only}
    sub_path = posixpath.normpath(home.sub_path) if home.sub_path else ""
    if sub_path and sub_path != ".":
        if sub_path.startswith(("/", "..")):
            raise BackupError(f"hub {hub.id}: home.sub_path {home.sub_path!r} must stay inside the volume")
        mount["sub_path"] = sub_path
    return {
        "container_config": {
            "volume_mounts": [mount],
            # reading every user's files needs root (uid 1000 owns them, modes 0700 are common);
            # with root_squash on the NFS server, back up from the server instead
            "security_context": {"run_as_user": 0, "run_as_group": 0},
        },
        "pod_spec_config": {"volumes": [volume], "restart_policy": "Never"},
    }


def _backup_of(hub: Hub, destination: str) -> list[str]:
    return ["hub-ops", "backup", "--hub", hub.id, "--source", HOME_MOUNT, "--dest", destination]


def backup_command(
    hub: Hub, destination: str, compression: str, walk_threads: int = 8, *, plan: str | None = None, part: int = 0
) -> list[str]:
    """The command a backup pod runs (the same CLI a person runs): the whole snapshot, or
    with `plan` one worker's part of that plan (one Job per part, after `plan_command`)."""
    return [
        *_backup_of(hub, destination),
        "--compression",
        compression,
        "--walk-threads",
        str(walk_threads),
        *(["--plan", plan, "--part", str(part)] if plan else []),
        "--json",
    ]


def plan_command(hub: Hub, destination: str, workers: int) -> list[str]:
    """The planning pod's command: list the users' folders, write a plan of `workers` parts
    to the destination (or keep the pending one if it still fits). Its id is read from there."""
    return [
        *_backup_of(hub, destination),
        "--parallel-workers",
        str(workers),
        "--plan-only",
        "--reuse-pending",
    ]


def restore_command(
    source_hub: str,
    destination: str,
    snapshot: str,
    users: list[str] | None,
    *,
    subfolder: str = "",
    overwrite_newer_reason: str = "",
    share: tuple[int, int] | None = None,
) -> list[str]:
    """The command a restore/migration pod runs: snapshot of `source_hub` into the mounted
    homes (or into `subfolder` of them, e.g. a scratch folder beside the users' homes);
    with `share` (I, N) only the I-th of N shares of the users' folders (one of N Jobs)."""
    cmd = [
        "hub-ops",
        "restore",
        "--hub",
        source_hub,
        "--dest",
        destination,
        "--snapshot",
        snapshot,
        "--target",
        posixpath.join(HOME_MOUNT, subfolder) if subfolder else HOME_MOUNT,
    ]
    for user in users or []:
        cmd += ["--user", user]
    if share is not None:
        cmd += ["--part", str(share[0]), "--parts", str(share[1])]
    if overwrite_newer_reason:
        cmd += ["--overwrite-newer-reason", overwrite_newer_reason]
    return cmd


def home_job(
    hub: Hub,
    *,
    image: str,
    command: list[str],
    job_name: str,
    read_only: bool = True,
    service_account_name: str | None = None,
    env: dict[str, str] | None = None,
    provider: str | None = None,
):
    """The kubernetes V1Job (client model) running `command` with `hub`'s homes mounted,
    built by dagster-k8s from the same config `execute_k8s_job` is given. The service account
    is what may write the bucket: GKE workload identity and EKS IRSA / Pod Identity need only
    the account (its annotation or association); AKS workload identity also needs the pod
    label `azure.workload.identity/use`, added on `azure` clusters."""
    from dagster_k8s.job import DagsterK8sJobConfig, UserDefinedDagsterK8sConfig, construct_dagster_k8s_job

    config = home_k8s_config(hub, read_only=read_only)
    config["container_config"] = {
        **config["container_config"],
        "command": command,
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
    }
    if service_account_name:
        config["pod_spec_config"] = {**config["pod_spec_config"], "service_account_name": service_account_name}
        if provider == "azure":
            config["pod_template_spec_metadata"] = {"labels": {"azure.workload.identity/use": "true"}}
    return construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(job_image=image, dagster_home=None),
        args=None,
        job_name=job_name,
        pod_name=job_name,
        component="hub_ops_backup",
        user_defined_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config),
        labels={"hub-ops/hub": hub.partition_key.replace(".", "-")[:63]},
    )
