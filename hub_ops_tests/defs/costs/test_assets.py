"""The costs assets materialized on a real instance, against the GCS server: the export read
from a bucket, reports written to another folder of it, checks and metadata for people.

The reconciliation check is shown to catch reading errors: each fault below is injected into
the report's reader only (monkeypatched for the run), the check's independent re-read of the
export is left alone, and the check must fail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from hub_ops.costs import readers, usage
from hub_ops.costs.readers import ExportFiles
from hub_ops.costs.report import read_report, reconcile
from hub_ops.definitions import defs
from hub_ops.defs.costs.assets import hub_daily_costs, monthly_cost_report
from hub_ops.defs.costs.resources import BillingResource
from hub_ops.defs.shared.resources import FleetResource, StorageResource
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet
from hub_ops_tests.costs.builders import exact_net_by_day
from hub_ops_tests.tables import rows

ROWS = 120
DAYS = {"dagster/asset_partition_range_start": "2026-10-01", "dagster/asset_partition_range_end": "2026-10-03"}


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
    tables = list(generator.days(dt.date(2026, 9, 1), 61, ROWS))
    with fs.open(path, "wb") as sink:
        write_parquet(tables, sink)
    resources = {
        "fleet": FleetResource(root=str(example_fleet)),
        "storage": StorageResource(gcs_endpoint=gcs_server.endpoint, gcs_token="anon"),
        "billing": BillingResource(),
    }
    return resources, gcs_bucket, gcs_storage, exact_net_by_day(pa.concat_tables(tables))


def test_definitions_load():
    repo = defs().get_repository_def()
    assert {"hub_daily_costs", "monthly_cost_report"} <= {k.to_user_string() for k in repo.assets_defs_by_key}
    assert {"cost_report_schedule", "monthly_cost_report_schedule"} <= {s.name for s in repo.schedule_defs}


def test_daily_range_in_one_run(setup):
    resources, bucket, storage, exact = setup
    with dg.instance_for_test() as instance:
        result = dg.materialize([hub_daily_costs], instance=instance, resources=resources, tags=DAYS)
        assert result.success
        partitions = [e.materialization.partition for e in result.get_asset_materialization_events()]
        assert sorted(partitions) == ["2026-10-01", "2026-10-02", "2026-10-03"]
        check = result.get_asset_check_evaluations()[0]
        assert check.passed and check.metadata["checked"].value == 4  # three days and their total
        table = _table(check.metadata["reconciliation"])
        assert list(table) == ["2026-10-01", "2026-10-02", "2026-10-03", "total"]
        days = [exact[d] for d in ("2026-10-01", "2026-10-02", "2026-10-03")]
        for (label, row), net in zip(table.items(), days + [sum(days)]):
            assert row["independent"] == net, label  # the independent read, to the nano
            assert abs(row["csv"] - net) <= Decimal("0.005") * (3 if label == "total" else 1), label
            assert row["parquet"] == row["csv"] and row["verdict"] == "ok"
        # each day's materialization carries that day's figures, not the range's
        by_day = {
            e.materialization.partition: e.materialization.metadata for e in result.get_asset_materialization_events()
        }
        for day, metadata in by_day.items():
            assert abs(Decimal(str(metadata["net_total"].value)) - exact[day]) <= Decimal("0.005"), day
            assert metadata["export_rows"].value == ROWS and metadata["days_in_run"].value == 3
            assert metadata["parquet"].value == f"gs://{bucket}/reports/cost-reports/daily/{day}.parquet"
            hubs = {r["hub"]: r["net"] for r in rows(metadata["hubs"])}
            assert "pangeo-hubs/prod" in hubs
            assert abs(Decimal(str(hubs["total"])) - exact[day]) <= Decimal("0.01"), day
        assert len({m["net_total"].value for m in by_day.values()}) == 3
    table, info = read_report(storage, f"gs://{bucket}/reports/cost-reports/daily/2026-10-02.parquet")
    assert info["export"]["rows"] == ROWS and reconcile(table, info["export"]["net_nanos"]).ok


def test_monthly_report_with_change_chart_and_links(setup):
    resources, bucket, storage, _ = setup
    with dg.instance_for_test() as instance:
        for month in ("2026-09-01", "2026-10-01"):
            result = dg.materialize([monthly_cost_report], instance=instance, resources=resources, partition_key=month)
            assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
        metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert [c.name for c in metadata["hubs"].value.schema.columns] == [
        "hub",
        "direct",
        "shared",
        "net",
        "previous",
        "change",
    ]
    hubs = {r["hub"]: r for r in rows(metadata["hubs"])}
    assert "%" in hubs["total"]["change"] and "(unknown-cluster, not charged to a hub)" in hubs
    assert metadata["chart"].value.startswith("![net cost per hub per day, 2026-10](data:image/png;base64,iVBORw0KGgo")
    assert metadata["sharing_policy"].value == "proportional" and metadata["export_rows"].value == 31 * ROWS
    assert "unknown-namespace" in {r["line"] for r in rows(metadata["unknown_lines"])}
    for key, ext in (("csv", "csv"), ("parquet", "parquet"), ("chart_png", "png")):
        # a gs:// link (Storage.public_url gives the console page on real GCS)
        assert metadata[key].value == f"gs://{bucket}/reports/cost-reports/2026-10.{ext}"
    table, info = read_report(storage, f"gs://{bucket}/reports/cost-reports/2026-10.csv")
    assert round(table["net_cost"].sum(), 2) == metadata["net_total"].value


def _table(value) -> dict[str, dict]:
    """The check's native table -> {figure: {column: Decimal (amounts) or text}}."""
    return {
        row["figure"]: {k: Decimal(str(v)) if isinstance(v, float) else v for k, v in row.items()}
        for row in rows(value)
    }


# ------------------------------------------------------------------ reading errors are caught


def _credits_dropped(monkeypatch):
    monkeypatch.setattr(usage, "credit_sums", lambda credits: np.zeros(len(credits), dtype=np.int64))


def _file_read_twice(monkeypatch):
    listing = ExportFiles.files
    monkeypatch.setattr(ExportFiles, "files", lambda self: listing(self) * 2)


def _amounts_truncated(monkeypatch):
    # a parser that keeps the whole units of cost and credits.amount and drops the decimals
    to_nanos = usage.to_nanos
    monkeypatch.setattr(usage, "to_nanos", lambda amounts: to_nanos(pc.trunc(amounts.cast(pa.float64()))))


FAULTS = {"credits dropped": _credits_dropped, "a file read twice": _file_read_twice, "amounts": _amounts_truncated}


@pytest.mark.parametrize("fault", FAULTS)
def test_the_check_fails_when_the_reader_misreads_the_export(setup, monkeypatch, fault):
    resources, _, _, exact = setup
    FAULTS[fault](monkeypatch)
    with dg.instance_for_test() as instance:
        result = dg.materialize([hub_daily_costs], instance=instance, resources=resources, tags=DAYS)
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    table = _table(check.metadata["reconciliation"])
    assert all(row["verdict"] == "FAILS" for row in table.values())
    days = [exact[d] for d in ("2026-10-01", "2026-10-02", "2026-10-03")]
    assert [row["independent"] for row in table.values()] == days + [sum(days)]  # the export, untouched
    for row in table.values():  # the files and the report's reader agree with each other: same batch
        assert abs(row["csv"] - row["report reader"]) <= Decimal("0.02")
        assert row["difference"] == row["csv"] - row["independent"]


def test_the_monthly_check_fails_when_a_file_is_read_twice(setup, monkeypatch):
    resources, _, _, exact = setup
    _file_read_twice(monkeypatch)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [monthly_cost_report], instance=instance, resources=resources, partition_key="2026-10-01"
        )
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    october = sum((net for day, net in exact.items() if day.startswith("2026-10")), Decimal(0))
    row = _table(check.metadata["reconciliation"])["2026-10"]
    assert row["independent"] == october and abs(row["parquet"] - 2 * october) <= Decimal("0.005")


def test_the_check_fails_when_the_reader_misreads_the_currency(setup, monkeypatch):
    resources, _, _, _ = setup
    batches = readers._parquet_batches

    def euros(*args):
        for where, batch in batches(*args):
            column = batch.schema.get_field_index("currency")
            yield where, batch.set_column(column, "currency", pa.array(["EUR"] * batch.num_rows))

    monkeypatch.setattr(readers, "_parquet_batches", euros)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [monthly_cost_report], instance=instance, resources=resources, partition_key="2026-10-01"
        )
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    assert check.metadata["currencies"].value == "report EUR, export (re-read) USD"
    assert check.metadata["currency_agrees"].value is False


def test_monthly_report_gains_usage_columns_from_the_activity_ledger(setup):
    from hub_ops.usage.activity import Observation, UsageLedger
    from hub_ops.usage.tables import ledger_folder

    resources, bucket, storage, _ = setup
    ledger = UsageLedger(storage, ledger_folder(f"gs://{bucket}/reports"))
    # three users of pangeo-hubs/prod seen on two days of October (one of them twice): MAU 3
    for day, users in ((3, ["a", "b"]), (20, ["b", "c"])):
        at = dt.datetime(2026, 10, day, 12, tzinfo=dt.UTC)
        ledger.record(Observation("pangeo-hubs/prod", at, [(u, at) for u in users], [], 0))
    result = dg.materialize(
        [monthly_cost_report], instance=dg.DagsterInstance.ephemeral(), resources=resources, partition_key="2026-10-01"
    )
    assert result.success
    table, _ = read_report(storage, f"gs://{bucket}/reports/cost-reports/2026-10.parquet")
    prod = table[(table["cluster"] == "pangeo-hubs") & (table["hub"] == "prod")]
    assert set(prod["active_users"]) == {3}
    assert float(prod["cost_per_active_user"].sum()) == pytest.approx(prod["net_cost"].sum() / 3, abs=0.01 * len(prod))
    others = table[(table["hub"] != "") & (table["hub"] != "prod")]
    assert others["active_users"].isna().all() and others["cost_per_active_user"].isna().all()  # unknown, not 0
    assert table["home_bytes"].isna().all()  # no backups in this bucket
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    chart = metadata["cost_per_active_user_chart"].value
    assert chart.startswith("![net cost per active user, 12 months](data:image/png;base64,iVBORw0KGgo")


def test_cost_per_active_user_history_over_months(setup):
    from hub_ops.costs.exports import per_user_history, reports_folder
    from hub_ops.costs.report import with_usage, write_report

    resources, bucket, storage, _ = setup
    folder = reports_folder(f"gs://{bucket}/reports")
    tables = {}
    for month, users in (("2026-09", 4), ("2026-10", 2)):
        dg.materialize([monthly_cost_report], resources=resources, partition_key=f"{month}-01")
        table, _ = read_report(storage, f"{folder}/{month}.parquet")
        tables[month] = with_usage(table[table.columns[:12]], {"pangeo-hubs/prod": users}, {})
    # September as if reported with 4 users; October's table in hand with 2
    write_report(tables["2026-09"], storage, f"{folder}/2026-09", {})
    wide = per_user_history(storage, folder, tables["2026-10"])
    assert list(wide.index) == ["2026-09", "2026-10"] and list(wide.columns) == ["pangeo-hubs/prod"]
    for month, users in (("2026-09", 4), ("2026-10", 2)):
        t = tables[month]
        net = t.loc[(t["cluster"] == "pangeo-hubs") & (t["hub"] == "prod"), "net_cost"].sum()
        assert wide.loc[month, "pangeo-hubs/prod"] == pytest.approx(net / users, abs=0.05)
