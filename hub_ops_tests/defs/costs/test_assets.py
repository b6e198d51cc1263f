"""The costs assets materialized on a real instance, against the GCS server: the export read
from a bucket, reports written to another folder of it, checks and metadata for people."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from hub_ops.costs.report import read_report, reconcile
from hub_ops.definitions import defs
from hub_ops.defs.costs.assets import hub_daily_costs, monthly_cost_report
from hub_ops.defs.costs.checks import reconciliation_result
from hub_ops.defs.costs.resources import BillingResource
from hub_ops.defs.shared.resources import FleetResource, StorageResource
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet

ROWS = 120


@pytest.fixture
def setup(example_fleet, gcs_server, gcs_bucket, gcs_storage):
    """The example fleet with its billing export and reports in a fresh bucket."""
    fleet_yaml = example_fleet / "fleet.yaml"
    fleet_yaml.write_text(
        fleet_yaml.read_text()
        .replace("gs://example-fleet-billing/export/", f"gs://{gcs_bucket}/billing/")
        .replace("destination: gs://example-fleet-reports", f"destination: gs://{gcs_bucket}/reports")
    )
    generator = ExportGenerator(load_fleet(example_fleet), seed=1)
    fs, path = gcs_storage.filesystem(f"gs://{gcs_bucket}/billing/2026-09-10.parquet")
    with fs.open(path, "wb") as sink:
        write_parquet(generator.days(dt.date(2026, 9, 1), 61, ROWS), sink)
    resources = {
        "fleet": FleetResource(root=str(example_fleet)),
        "storage": StorageResource(gcs_endpoint=gcs_server.endpoint, gcs_token="anon"),
        "billing": BillingResource(),
    }
    return resources, gcs_bucket, gcs_storage


def test_definitions_load():
    repo = defs().get_repository_def()
    assert {"hub_daily_costs", "monthly_cost_report"} <= {k.to_user_string() for k in repo.assets_defs_by_key}
    assert {"cost_report_schedule", "monthly_cost_report_schedule"} <= {s.name for s in repo.schedule_defs}


def test_daily_range_in_one_run(setup):
    resources, bucket, storage = setup
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [hub_daily_costs],
            instance=instance,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": "2026-10-01",
                "dagster/asset_partition_range_end": "2026-10-03",
            },
        )
        assert result.success
        partitions = [e.materialization.partition for e in result.get_asset_materialization_events()]
        assert sorted(partitions) == ["2026-10-01", "2026-10-02", "2026-10-03"]
        check = result.get_asset_check_evaluations()[0]
        assert check.passed and check.metadata["checked"].value == 3
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
        assert "pangeo-hubs/prod" in metadata["hubs"].value and metadata["days"].value == 3
        assert metadata["parquet"].value == f"gs://{bucket}/reports/cost-reports/daily/2026-10-03.parquet"
    table, info = read_report(storage, f"gs://{bucket}/reports/cost-reports/daily/2026-10-02.parquet")
    assert info["export"]["rows"] == ROWS and reconcile(table, info["export"]["net_nanos"]).ok


def test_monthly_report_with_change_chart_and_links(setup):
    resources, bucket, storage = setup
    with dg.instance_for_test() as instance:
        for month in ("2026-09-01", "2026-10-01"):
            result = dg.materialize([monthly_cost_report], instance=instance, resources=resources, partition_key=month)
            assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
    hubs = metadata["hubs"].value
    assert [c.strip() for c in hubs.splitlines()[0].split("|")[1:-1]] == [
        "hub",
        "direct",
        "shared",
        "net",
        "previous",
        "change",
    ]
    assert "%" in hubs and "(unknown-cluster, not charged to a hub)" in hubs
    assert metadata["chart"].value.startswith("![net cost per hub per day, 2026-10](data:image/png;base64,iVBORw0KGgo")
    assert metadata["sharing_policy"].value == "proportional" and metadata["export_rows"].value == 31 * ROWS
    assert "unknown-namespace" in metadata["unknown_lines"].value
    for key, ext in (("csv", "csv"), ("parquet", "parquet"), ("chart_png", "png")):
        # a gs:// link (Storage.public_url gives the console page on real GCS)
        assert metadata[key].value == f"gs://{bucket}/reports/cost-reports/2026-10.{ext}"
    table, info = read_report(storage, f"gs://{bucket}/reports/cost-reports/2026-10.csv")
    assert round(table["net_cost"].sum(), 2) == metadata["net_total"].value


def test_check_fails_when_a_file_does_not_add_up(setup):
    resources, bucket, storage = setup
    with dg.instance_for_test() as instance:
        dg.materialize([monthly_cost_report], instance=instance, resources=resources, partition_key="2026-10-01")
    table, info = read_report(storage, f"gs://{bucket}/reports/cost-reports/2026-10.parquet")
    good = reconcile(table, info["export"]["net_nanos"])
    bad = reconcile(table.iloc[:-1], info["export"]["net_nanos"])  # a line lost
    result = reconciliation_result({"csv": good, "parquet": bad}, "USD")
    assert not result.passed and result.metadata["failed"].value == 1
    assert "parquet" in result.metadata["details"].value and "does NOT reconcile" in result.metadata["details"].value
