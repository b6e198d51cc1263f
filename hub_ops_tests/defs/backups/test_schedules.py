"""nightly_backups: one run request per hub with backups, tagged for the run queue."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from hub_ops.defs.backups.schedules import nightly_backups, nightly_requests
from hub_ops.defs.shared.resources import FleetResource
from hub_ops.defs.shared.schedules import fleet_settings_at_load
from hub_ops.fleet.models import BackupSettings

UTC = dt.UTC


def _tick(fleet_root, when: dt.datetime, partitions: list[str] | None = None, retired: tuple[str, ...] = ()):
    with dg.instance_for_test() as instance:
        from hub_ops.fleet import load_fleet

        keys = (
            partitions
            if partitions is not None
            else [h.partition_key for h in load_fleet(fleet_root, check_files=False).hubs()]
        )
        instance.add_dynamic_partitions("hubs", keys)
        for key in retired:  # as decommission_job records a retirement
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    "hub_decommissions",
                    partition=key,
                    metadata={"state": "decommissioned", "decommissioned_on": "2026-12-14"},
                )
            )
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=when) as context:
            return nightly_requests(context, FleetResource(root=str(fleet_root)))


def test_one_request_per_hub_with_backups_for_last_night(example_fleet):
    requests = _tick(example_fleet, dt.datetime(2026, 3, 15, 2, 0, tzinfo=UTC))
    by_key = {r.run_key: r for r in requests}
    # every hub of the example fleet has a home; none is decommissioned yet in March 2026
    assert len(requests) == 9
    r = by_key["2026-03-14-pangeo-hubs.prod"]
    assert r.partition_key == "2026-03-14|pangeo-hubs.prod"
    assert r.tags == {"hub_ops/hub": "pangeo-hubs/prod", "hub_ops/kind": "backup"}  # the id people read


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
    assert "2026-12-19-pangeo-hubs.legacy" in {r.run_key for r in _tick(example_fleet, when)}
    keys = {r.run_key for r in _tick(example_fleet, when, retired=("pangeo-hubs.legacy",))}
    assert "2026-12-19-pangeo-hubs.legacy" not in keys  # recorded as decommissioned
    assert "2026-12-19-local-demo.workshop" not in keys
    assert "2026-12-19-pangeo-hubs.prod" in keys and len(keys) == 7


def test_hubs_not_yet_partitions_wait_for_the_fleet_sensor(example_fleet):
    requests = _tick(example_fleet, dt.datetime(2026, 3, 15, 2, 0, tzinfo=UTC), partitions=["local-demo.staging"])
    assert [r.run_key for r in requests] == ["2026-03-14-local-demo.staging"]
    skip = _tick(example_fleet, dt.datetime(2026, 3, 15, 2, 0, tzinfo=UTC), partitions=[])
    assert isinstance(skip, dg.SkipReason) and "not yet a `hubs` partition" in skip.skip_message


def test_invalid_fleet_skips_with_the_reason(example_fleet):
    (example_fleet / "clusters" / "local-demo" / "cluster.yaml").write_text("name: local-demo\nprovider: nope\n")
    skip = _tick(example_fleet, dt.datetime(2026, 3, 15, 2, 0, tzinfo=UTC), partitions=["local-demo.staging"])
    assert isinstance(skip, dg.SkipReason) and "fleet config invalid" in skip.skip_message


def test_cron_comes_from_fleet_yaml(example_fleet, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_OPS_FLEET", str(example_fleet))
    assert fleet_settings_at_load().backups.schedule == "0 2 * * *" == nightly_backups.cron_schedule
    fleet_yaml = example_fleet / "fleet.yaml"
    fleet_yaml.write_text(fleet_yaml.read_text().replace('schedule: "0 2 * * *"', 'schedule: "30 3 * * *"'))
    assert fleet_settings_at_load().backups.schedule == "30 3 * * *"
    monkeypatch.setenv("HUB_OPS_FLEET", str(tmp_path / "no-fleet"))
    assert fleet_settings_at_load().backups.schedule == BackupSettings().schedule == "0 2 * * *"
