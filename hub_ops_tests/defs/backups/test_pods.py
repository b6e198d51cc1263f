"""The backup pod: the dagster-k8s config built from a hub's `home` block, and the Job it
makes, checked against the Kubernetes schemas (kubernetes-validate, strict) and the
kubernetes client's models. (Creating it on the local kube-apiserver waits for the
local-stack fixtures on main.)"""

from __future__ import annotations

import kubernetes
import kubernetes_validate
import pytest

from hub_ops.backup import BackupError
from hub_ops.backup.config import backup_workers
from hub_ops.defs.shared.home_pods import (
    HOME_MOUNT,
    backup_command,
    home_job,
    home_k8s_config,
    plan_command,
    restore_command,
)
from hub_ops.fleet import load_fleet
from hub_ops.fleet.models import HubBackups


@pytest.fixture
def fleet(example_fleet):
    return load_fleet(example_fleet, check_files=False)


def test_pvc_home_with_sub_path_mounts_read_only_for_backups(fleet):
    hub = fleet.hub("community-hubs/uni")  # home: {pvc: home-nfs, sub_path: uni}, namespace uni-teaching
    config = home_k8s_config(hub)
    assert config["pod_spec_config"]["volumes"] == [
        {"name": "homes", "persistent_volume_claim": {"claim_name": "home-nfs", "read_only": True}}
    ]
    assert config["container_config"]["volume_mounts"] == [
        {"name": "homes", "mount_path": HOME_MOUNT, "read_only": True, "sub_path": "uni"}
    ]
    writable = home_k8s_config(hub, read_only=False)
    assert writable["container_config"]["volume_mounts"][0]["read_only"] is False


def test_nfs_home_and_refusals(fleet, example_fleet):
    from hub_ops.fleet.models import Home, NfsHome

    hub = fleet.hub("pangeo-hubs/prod").model_copy()
    hub.home = Home(nfs=NfsHome(server="10.0.0.2", path="/export/homes"))
    assert home_k8s_config(hub)["pod_spec_config"]["volumes"][0]["nfs"] == {
        "server": "10.0.0.2",
        "path": "/export/homes",
        "read_only": True,
    }
    hub.home = Home(pvc="home", sub_path="../other-hub")
    with pytest.raises(BackupError, match="must stay inside the volume"):
        home_k8s_config(hub)
    with pytest.raises(BackupError, match="is a local path"):
        home_k8s_config(fleet.hub("local-demo/staging"))


@pytest.mark.parametrize("hub_id", ["community-hubs/uni", "pangeo-hubs/prod"])
def test_backup_job_is_a_valid_kubernetes_job(fleet, hub_id):
    hub = fleet.hub(hub_id)
    command = backup_command(hub, "gs://example-fleet-backups", "zstd")
    job = home_job(
        hub,
        image="ghcr.io/example/hub-ops:1.0",
        command=command,
        job_name="hub-ops-backup-test",
        service_account_name="hub-ops-backups",
        env={"HUB_OPS_ENV": "production"},
    )
    assert isinstance(job, kubernetes.client.V1Job)
    manifest = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    kubernetes_validate.validate(manifest, "1.30", strict=True)
    pod = manifest["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == command and command[:2] == ["hub-ops", "backup"]
    assert "--source" in command and command[command.index("--source") + 1] == HOME_MOUNT
    assert container["volumeMounts"][0]["mountPath"] == HOME_MOUNT and container["volumeMounts"][0]["readOnly"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "home-nfs"
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "hub-ops-backups"
    assert {"name": "HUB_OPS_ENV", "value": "production"} in container["env"]


def test_restore_job_mounts_the_target_hub_writable(fleet):
    hub = fleet.hub("pangeo-hubs/prod")
    command = restore_command(
        "pangeo-hubs/legacy", "gs://example-fleet-backups", "20261201T020000.000Z-0a0b0c0d", ["ada", "bob"]
    )
    job = home_job(hub, image="hub-ops:1", command=command, job_name="hub-ops-restore-test", read_only=False)
    manifest = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    kubernetes_validate.validate(manifest, "1.30", strict=True)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["volumeMounts"][0].get("readOnly") is False
    assert command[command.index("--user") + 1] == "ada" and command[-2:] == ["--user", "bob"]
    assert command[command.index("--target") + 1] == HOME_MOUNT and "--overwrite-newer-reason" not in command


def test_a_restore_pod_writes_to_a_scratch_folder_and_keeps_newer_files_unless_told():
    scratch = restore_command(
        "c/h", "gs://b", "20261201T020000.000Z-0a0b0c0d", None, subfolder=".hub-ops-restored/20261201T020000.000Z"
    )
    assert scratch[scratch.index("--target") + 1] == f"{HOME_MOUNT}/.hub-ops-restored/20261201T020000.000Z"
    assert "--user" not in scratch
    told = restore_command("c/h", "gs://b", "s", ["ada"], overwrite_newer_reason="ada asked for last night's copy")
    assert told[-2:] == ["--overwrite-newer-reason", "ada asked for last night's copy"]


@pytest.mark.parametrize(("provider", "labelled"), [("azure", True), ("aws", False), ("gcp", False)])
def test_backup_pods_carry_what_each_clouds_workload_identity_needs(fleet, provider, labelled):
    """AKS injects the federated token only into pods labelled for it; GKE and EKS (IRSA, Pod
    Identity) go by the service account alone."""
    hub = fleet.hub("community-hubs/uni")
    job = home_job(
        hub,
        image="ghcr.io/example/hub-ops:1.0",
        command=backup_command(hub, "az://backups/homes", "zstd"),
        job_name="hub-ops-backup-test",
        service_account_name="hub-ops-backups",
        provider=provider,
    )
    manifest = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    kubernetes_validate.validate(manifest, "1.30", strict=True)
    template = manifest["spec"]["template"]
    assert template["spec"]["serviceAccountName"] == "hub-ops-backups"
    labels = template["metadata"].get("labels", {})
    assert (labels.get("azure.workload.identity/use") == "true") is labelled
    # without a service account there is no identity to federate: no label either
    bare = home_job(hub, image="i:1", command=["hub-ops"], job_name="hub-ops-backup-bare", provider=provider)
    assert "azure.workload.identity/use" not in (bare.spec.template.metadata.labels or {})


def test_production_backup_pods_get_the_storage_endpoints_never_the_secrets(monkeypatch):
    from hub_ops.defs.shared.resources import shared_resources_for
    from hub_ops.settings import Settings

    environ = {
        "HUB_OPS_ENV": "production",
        "AWS_ENDPOINT_URL": "https://s3.example.org",
        "AWS_REGION": "eu-central-1",
        "AZURE_STORAGE_ACCOUNT_NAME": "fleetbackups",
    }
    secrets = {"AWS_SECRET_ACCESS_KEY": "aws-secret-value-1", "AZURE_STORAGE_CONNECTION_STRING": "AccountKey=k3y"}
    for key, value in {**environ, **secrets}.items():
        monkeypatch.setenv(key, value)
    runner = shared_resources_for(Settings.from_environ({**environ, **secrets}))["backup_runner"]
    assert runner.pod_env == {
        "HUB_OPS_ENV": "production",
        "AWS_ENDPOINT_URL_S3": "https://s3.example.org",
        "AWS_REGION": "eu-central-1",
        "AZURE_STORAGE_ACCOUNT_NAME": "fleetbackups",
    }
    assert not any(secret in repr(runner) for secret in secrets.values())


def test_a_hub_with_backups_workers_is_planned_in_one_pod_and_backed_up_by_a_pod_per_part(fleet):
    hub = fleet.hub("pangeo-hubs/prod")
    hub.backups = HubBackups(workers=3)
    plan = plan_command(hub, "gs://b", backup_workers(hub))
    assert plan[plan.index("--parallel-workers") + 1] == "3"
    assert {"--plan-only", "--reuse-pending"} <= set(plan) and plan[plan.index("--source") + 1] == HOME_MOUNT
    part = backup_command(hub, "gs://b", "zstd", plan="20260101T000000.000Z-0123abcd", part=2)
    assert part[part.index("--plan") + 1 :][:3] == ["20260101T000000.000Z-0123abcd", "--part", "2"]
    assert "--plan" not in backup_command(hub, "gs://b", "zstd") and "--parallel-workers" not in part
