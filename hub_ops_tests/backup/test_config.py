"""What the fleet config says about a hub's backups."""

from __future__ import annotations

from hub_ops.backup.config import backup_destination, backups_enabled, local_home, retention_policy
from hub_ops.backup.retention import RetentionPolicy
from hub_ops.fleet import load_fleet


def test_fleet_defaults_and_hub_overrides(example_fleet):
    fleet = load_fleet(example_fleet, check_files=False)
    prod, legacy, staging = (fleet.hub(h) for h in ("pangeo-hubs/prod", "pangeo-hubs/legacy", "local-demo/staging"))
    assert backup_destination(fleet, prod) == "gs://example-fleet-backups"
    assert retention_policy(fleet, prod) == RetentionPolicy(daily=7, weekly=4, monthly=12)
    assert backups_enabled(prod) and backups_enabled(staging)
    assert local_home(fleet, prod) is None  # a PVC: backed up by a pod
    assert local_home(fleet, staging) == (example_fleet.parent / ".data" / "homes" / "local-demo" / "staging").resolve()


def test_hub_backups_block_wins(example_fleet):
    path = example_fleet / "clusters" / "pangeo-hubs" / "cluster.yaml"
    path.write_text(
        path.read_text().replace(
            "    retain: {daily: 7, weekly: 4, monthly: 12}",
            "    retain: {last: 3}\n    destination: gs://other\n    enabled: false",
        )
    )
    fleet = load_fleet(example_fleet, check_files=False)
    prod = fleet.hub("pangeo-hubs/prod")
    assert retention_policy(fleet, prod) == RetentionPolicy(last=3)
    assert backup_destination(fleet, prod) == "gs://other"
    assert not backups_enabled(prod)
