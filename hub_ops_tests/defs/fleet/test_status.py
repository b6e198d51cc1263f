"""fleet_status over what real runs recorded: a night's backup (user_home_backups against the
GCS server), the last days' costs (hub_daily_costs over a sample billing export in the same
server), and a deploy record (written by deploy_job's own writer). The expected figures are
read from those assets' materializations directly, not through fleet_status's readers."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import yaml

from hub_ops.defs.backups.assets import user_home_backups
from hub_ops.defs.backups.partitions import backup_partition_key
from hub_ops.defs.costs.assets import hub_daily_costs
from hub_ops.defs.costs.resources import BillingResource
from hub_ops.defs.deploy.assets import hub_release_materialization
from hub_ops.defs.fleet.assets import fleet_status
from hub_ops.deploy.runner import ReleaseResult
from hub_ops.fleet import load_fleet
from hub_ops.fleet.status import COLUMNS
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet
from hub_ops_tests.defs.backups.conftest import make_homes
from hub_ops_tests.defs.backups.test_checks import _only_local_demo
from hub_ops_tests.defs.domain import definitions_with
from hub_ops_tests.tables import rows

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
DAYS = 3


@pytest.mark.parametrize("backup_fleet", ["gcs"], indirect=True)
def test_fleet_status_reads_what_the_assets_recorded(backup_fleet, gcs_bucket, gcs_storage):
    _only_local_demo(backup_fleet)
    fleet_yaml = backup_fleet.root / "fleet.yaml"
    settings = yaml.safe_load(fleet_yaml.read_text())
    settings["costs"]["billing"]["files"] = f"gs://{gcs_bucket}/billing/"
    settings["reports"]["destination"] = f"gs://{gcs_bucket}/reports"
    fleet_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    fleet = load_fleet(backup_fleet.root, check_files=False)
    today = dt.datetime.now(dt.UTC).date()
    first = today - dt.timedelta(days=DAYS)
    fs, path = gcs_storage.filesystem(f"gs://{gcs_bucket}/billing/recent.parquet")
    with fs.open(path, "wb") as sink:
        write_parquet(list(ExportGenerator(fleet, seed=2).days(first, DAYS, 60)), sink)
    resources = {**backup_fleet.resources, "billing": BillingResource()}

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [h.partition_key for h in fleet.hubs()])
        make_homes(backup_fleet.homes / "staging")
        night = (today - dt.timedelta(days=1)).isoformat()
        backup = dg.materialize(
            [user_home_backups],
            instance=instance,
            resources=resources,
            partition_key=str(backup_partition_key(night, "local-demo.staging")),
            run_config=QUIET,
        )
        costs = dg.materialize(
            [hub_daily_costs],
            instance=instance,
            resources=resources,
            run_config=QUIET,
            tags={
                "dagster/asset_partition_range_start": first.isoformat(),
                "dagster/asset_partition_range_end": (today - dt.timedelta(days=1)).isoformat(),
            },
        )
        assert backup.success and costs.success
        staging = fleet.hub("local-demo/staging")
        release = ReleaseResult(
            release=staging.id,
            cluster="local-demo",
            hub="staging",
            namespace="staging",
            chart="basehub",
            chart_version="0.1.0",
            values_digest="sha256:v",
            manifest_digest="sha256:m",
            status="deployed",
            revision=3,
            git_sha="0123456789abcdef0123456789abcdef01234567",
        )
        instance.report_runless_asset_event(hub_release_materialization(staging, release, "test"))

        result = (
            definitions_with(resources)
            .resolve_job_def("fleet_status_job")
            .execute_in_process(instance=instance, run_config=QUIET)
        )
        assert result.success
        [event] = result.get_asset_materialization_events()
        meta = event.materialization.metadata

    table = rows(meta["hubs"])
    assert [c.name for c in meta["hubs"].value.schema.columns] == COLUMNS
    by_hub = {r["hub"]: r for r in table}
    assert set(by_hub) == {h.id for h in fleet.hubs()}
    # local-demo/workshop has backups on and no snapshot: the one failing hub, first
    assert table[0]["hub"] == "local-demo/workshop" and table[0]["state"] == "failing"
    assert table[0]["problems"] == "no snapshot"
    assert [r["state"] for r in table[1:]] == ["ok"] * (len(table) - 1)
    assert meta["summary"].value == f"1 hub without a backup in 26 h; {len(table) - 1} of {len(table)} hubs ok"

    recorded = backup.asset_materializations_for_node("user_home_backups")[0].metadata
    row = by_hub["local-demo/staging"]
    assert row["last snapshot"] == recorded["snapshot_id"].value
    assert row["snapshot bytes"] == recorded["bytes"].value and row["verified"] is True
    assert row["chart version"] == "0.1.0" and row["git sha"] == "0123456789ab"
    assert row["provider"] == fleet.clusters["local-demo"].provider and row["tier"] == "staging"

    # net cost over the days run: the sum of each day's recorded hub table
    days = [
        {r["hub"]: r["net"] for r in rows(e.materialization.metadata["hubs"])}
        for e in costs.get_asset_materialization_events()
    ]
    assert len(days) == DAYS
    costed = sorted({hub for day in days for hub in day} & set(by_hub))
    assert costed, days
    for hub in costed:
        assert by_hub[hub]["net cost 30 d"] == round(sum(day.get(hub, 0.0) for day in days), 2), hub
    for hub in set(by_hub) - set(costed):
        assert by_hub[hub]["net cost 30 d"] is None, hub
    assert by_hub["pangeo-hubs/legacy"]["decommission on"] == "2026-12-14"


def test_refreshes_on_its_own():
    repo = definitions_with({}).get_repository_def()
    deps = {k.to_user_string() for k in repo.asset_graph.get(fleet_status.key).parent_keys}
    assert deps == {"hub_releases", "user_home_backups", "hub_daily_costs", "hub_decommissions", "alert_incidents"}
    assert fleet_status.automation_conditions_by_key[fleet_status.key] is not None
    sensor = repo.get_sensor_def("fleet_automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert fleet_status.key in sensor.asset_selection.resolve(repo.asset_graph)
