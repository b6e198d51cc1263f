"""A private example fleet whose backups go to a file:// folder or a GCS server bucket."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hub_ops.defs.shared.resources import (
    BackupRunnerResource,
    FleetResource,
    KubeResource,
    SopsResource,
    StorageResource,
)


@dataclass
class BackupFleet:
    root: Path
    homes: Path  # where local-demo's home.local_path points
    resources: dict

    def set_hub(self, cluster: str, hub: str, **keys) -> None:
        """Edit a hub's entry in cluster.yaml (e.g. backups={...})."""
        path = self.root / "clusters" / cluster / "cluster.yaml"
        data = yaml.safe_load(path.read_text())
        entry = next(h for h in data["hubs"] if h["name"] == hub)
        entry.update(keys)
        path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture(params=["file", "gcs"])
def backup_fleet(request, example_fleet, tmp_path) -> BackupFleet:
    fleet_yaml = example_fleet / "fleet.yaml"
    settings = yaml.safe_load(fleet_yaml.read_text())
    if request.param == "file":
        settings["backups"]["destination"] = f"file://{tmp_path}/backups"
        storage = StorageResource(local_root=str(tmp_path / "data"))
    else:
        server = request.getfixturevalue("gcs_server")
        bucket = request.getfixturevalue("gcs_bucket")
        settings["backups"]["destination"] = f"gs://{bucket}/hub-ops"
        storage = StorageResource(gcs_endpoint=server.endpoint, gcs_token="anon")
    fleet_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    sops = SopsResource(age_key_file=str(example_fleet / "demo.agekey"))
    kube = KubeResource(sops=sops)
    resources = {
        "fleet": FleetResource(root=str(example_fleet)),
        "storage": storage,
        "backup_runner": BackupRunnerResource(kube=kube),
        "kube": kube,
        "sops": sops,
    }
    return BackupFleet(example_fleet, (example_fleet / ".." / ".data" / "homes" / "local-demo").resolve(), resources)


def make_homes(root: Path, users=("ada", "bob"), tag: str = "") -> None:
    for user in users:
        (root / user / "work").mkdir(parents=True, exist_ok=True)
        (root / user / "work" / "notes.md").write_text(f"{user} {tag}\n" * 100)
        (root / user / "course.ipynb").write_text("the shared course notebook\n" * 200)


def add_pvc_hub(fleet_root: Path, kubeconfig: Path, namespace: str, dest: str, **hub_keys) -> None:
    """Cluster `kube-test` (the local kube-apiserver) with hub `homes` whose homes are on PVC
    `home-nfs`, sub_path `homes`; backups of the fleet go to `dest`."""
    folder = fleet_root / "clusters" / "kube-test"
    folder.mkdir()
    hub = {
        "name": "homes",
        "display_name": "Homes on a PVC",
        "domain": "homes.localhost",
        "helm_chart": "basehub",
        "namespace": namespace,
        "home": {"pvc": "home-nfs", "sub_path": "homes"},
        **hub_keys,
    }
    cluster = {"name": "kube-test", "provider": "local", "local": {"kubeconfig": str(kubeconfig)}, "hubs": [hub]}
    (folder / "cluster.yaml").write_text(yaml.safe_dump(cluster, sort_keys=False))
    fleet_yaml = fleet_root / "fleet.yaml"
    settings = yaml.safe_load(fleet_yaml.read_text())
    settings["backups"]["destination"] = dest
    fleet_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))


def create_home_pvc(api, namespace: str) -> None:
    from kubernetes import client

    client.CoreV1Api(api).create_namespaced_persistent_volume_claim(
        namespace,
        client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="home-nfs"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteMany"], resources=client.V1ResourceRequirements(requests={"storage": "1Gi"})
            ),
        ),
    )
