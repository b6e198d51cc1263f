"""nightly_backups: one backfill per night of last night's partitions, one per hub with backups."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.execution.backfill import BulkActionStatus

from hub_ops.defs.backups.schedules import add_nightly_backfill, nightly_backups
from hub_ops.defs.shared.resources import FleetResource
from hub_ops.defs.shared.schedules import fleet_settings_at_load
from hub_ops.fleet.models import BackupSettings

UTC = dt.UTC
MARCH_15 = dt.datetime(2026, 3, 15, 2, 0, tzinfo=UTC)


def example_hub_keys(fleet_root: Path) -> list[str]:
    """`cluster.hub` of every hub in the fleet's cluster.yaml files, read as plain YAML."""
    return [
        f"{doc['name']}.{hub['name']}"
        for doc in (yaml.safe_load(p.read_text()) for p in sorted((fleet_root / "clusters").glob("*/cluster.yaml")))
        for hub in doc["hubs"]
    ]


def _tick(fleet_root, when: dt.datetime, partitions=None, retired=(), evaluations: int = 1):
    """(the tick's messages, the backfills it left in a fresh instance)."""
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", example_hub_keys(fleet_root) if partitions is None else partitions)
        for key in retired:  # as decommission_job records a retirement
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    "hub_decommissions",
                    partition=key,
                    metadata={"state": "decommissioned", "decommissioned_on": "2026-12-14"},
                )
            )
        messages = []
        for _ in range(evaluations):
            with dg.build_schedule_context(instance=instance, scheduled_execution_time=when) as context:
                result = add_nightly_backfill(context, FleetResource(root=str(fleet_root)))
            assert isinstance(result, dg.SkipReason)  # the tick's work is the backfill, never a run
            messages.append(result.skip_message)
        return messages, instance.get_backfills()


def backfill_partitions(backfill) -> set[str]:
    """The `user_home_backups` partition keys the backfill targets."""
    subsets = backfill.asset_backfill_data.target_subset.partitions_subsets_by_asset_key
    assert set(subsets) == {dg.AssetKey("user_home_backups")}
    return set(subsets[dg.AssetKey("user_home_backups")].get_partition_keys())


def test_one_backfill_of_last_nights_partitions_for_every_hub(example_fleet):
    messages, (backfill,) = _tick(example_fleet, MARCH_15)
    # every hub of the example fleet has a home; none is decommissioned yet in March 2026
    hubs = example_hub_keys(example_fleet)
    assert len(hubs) == 9 and "pangeo-hubs.prod" in hubs
    assert backfill_partitions(backfill) == {f"2026-03-14|{hub}" for hub in hubs}
    assert backfill.backfill_id == "nightly-backups-2026-03-14"
    assert messages == ["added backfill nightly-backups-2026-03-14: 9 hubs to back up, 0 skipped"]


def test_the_backfill_is_what_the_backfill_daemon_runs(example_fleet):
    """Pins the Dagster internals the schedule builds (PartitionBackfill from an asset-graph
    subset, as the sensor daemon does): a change to their shape fails here."""
    _messages, (backfill,) = _tick(example_fleet, MARCH_15)
    assert backfill.is_asset_backfill and backfill.status == BulkActionStatus.REQUESTED
    assert backfill.asset_selection == [dg.AssetKey("user_home_backups")]
    # every run gets these; the run coordinator adds each run's hub_ops/hub (test_run_queue)
    assert backfill.tags == {"hub_ops/kind": "backup"}
    assert backfill.title == "nightly backups 2026-03-14"
    assert not backfill.run_config and backfill.from_failure is False


def test_a_second_evaluation_of_the_same_night_adds_nothing(example_fleet):
    messages, backfills = _tick(example_fleet, MARCH_15, evaluations=2)
    assert [b.backfill_id for b in backfills] == ["nightly-backups-2026-03-14"]
    assert "added backfill" in messages[0]
    assert messages[1] == "backfill nightly-backups-2026-03-14 was added by an earlier evaluation; nothing to add"


def test_decommissioned_or_disabled_hubs_are_skipped(example_fleet):
    cluster = example_fleet / "clusters" / "local-demo" / "cluster.yaml"
    cluster.write_text(
        cluster.read_text().replace(
            "  home: {local_path: ../.data/homes/local-demo/workshop}",
            "  home: {local_path: ../.data/homes/local-demo/workshop}\n  backups: {enabled: false}",
        )
    )
    when = dt.datetime(2026, 12, 20, 2, 0, tzinfo=UTC)
    # past its date but not retired yet (a closed gate): still backed up every night
    _messages, (backfill,) = _tick(example_fleet, when)
    assert "2026-12-19|pangeo-hubs.legacy" in backfill_partitions(backfill)
    messages, (backfill,) = _tick(example_fleet, when, retired=("pangeo-hubs.legacy",))
    keys = backfill_partitions(backfill)
    assert "2026-12-19|pangeo-hubs.legacy" not in keys  # recorded as decommissioned
    assert "2026-12-19|local-demo.workshop" not in keys
    assert "2026-12-19|pangeo-hubs.prod" in keys and len(keys) == 7
    assert messages == ["added backfill nightly-backups-2026-12-19: 7 hubs to back up, 2 skipped"]


def test_hubs_not_yet_partitions_wait_for_the_fleet_sensor(example_fleet):
    _messages, (backfill,) = _tick(example_fleet, MARCH_15, partitions=["local-demo.staging"])
    assert backfill_partitions(backfill) == {"2026-03-14|local-demo.staging"}
    (skip,), backfills = _tick(example_fleet, MARCH_15, partitions=[])
    assert backfills == [] and "not yet a `hubs` partition" in skip


def test_invalid_fleet_skips_with_the_reason(example_fleet):
    (example_fleet / "clusters" / "local-demo" / "cluster.yaml").write_text("name: local-demo\nprovider: nope\n")
    (skip,), backfills = _tick(example_fleet, MARCH_15, partitions=["local-demo.staging"])
    assert backfills == [] and "fleet config invalid" in skip


def test_cron_comes_from_fleet_yaml(example_fleet, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_OPS_FLEET", str(example_fleet))
    assert fleet_settings_at_load().backups.schedule == "0 2 * * *" == nightly_backups.cron_schedule
    fleet_yaml = example_fleet / "fleet.yaml"
    fleet_yaml.write_text(fleet_yaml.read_text().replace('schedule: "0 2 * * *"', 'schedule: "30 3 * * *"'))
    assert fleet_settings_at_load().backups.schedule == "30 3 * * *"
    monkeypatch.setenv("HUB_OPS_FLEET", str(tmp_path / "no-fleet"))
    assert fleet_settings_at_load().backups.schedule == BackupSettings().schedule == "0 2 * * *"
