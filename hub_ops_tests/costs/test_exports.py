"""Exports round-trip through the GCS server: the export read from a bucket, the month's CSV,
Parquet and PNG written to a bucket and read back, last month's report found for the change."""

from __future__ import annotations

import datetime as dt

from hub_ops.costs import CostReport, reconcile
from hub_ops.costs.exports import export_days, export_month, reports_folder
from hub_ops.costs.readers import ExportFiles
from hub_ops.costs.report import read_report
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet
from hub_ops_tests.conftest import EXAMPLE_FLEET


def _upload_month(storage, url: str, generator, month: dt.date, days: int) -> None:
    fs, path = storage.filesystem(url)
    with fs.open(path, "wb") as sink:
        write_parquet(generator.days(month, days, 150), sink)


def test_month_round_trip_through_gcs(gcs_storage, gcs_bucket):
    fleet = load_fleet(EXAMPLE_FLEET)
    generator = ExportGenerator(fleet, seed=5)
    september, october = dt.date(2026, 9, 1), dt.date(2026, 10, 1)
    _upload_month(gcs_storage, f"gs://{gcs_bucket}/export/2026-09.parquet", generator, september, 30)
    _upload_month(gcs_storage, f"gs://{gcs_bucket}/export/2026-10.parquet", generator, october, 31)
    source = ExportFiles(f"gs://{gcs_bucket}/export/", gcs_storage)
    folder = reports_folder(f"gs://{gcs_bucket}/")
    assert folder == f"gs://{gcs_bucket}/cost-reports"

    previous = CostReport.build(source.aggregate(september, october), fleet)
    export_month(previous, gcs_storage, folder)
    report = CostReport.build(source.aggregate(october, dt.date(2026, 11, 1)), fleet)
    assert report.usage.rows_read == 31 * 150  # September's file is skipped by its statistics
    export = export_month(report, gcs_storage, folder)

    assert export.files == {fmt: f"{folder}/2026-10.{fmt}" for fmt in ("csv", "parquet", "png")}
    fs, _ = gcs_storage.filesystem(folder)
    assert sorted(p.rsplit("/", 1)[1] for p in fs.ls(f"{gcs_bucket}/cost-reports")) == [
        "2026-09.csv",
        "2026-09.parquet",
        "2026-09.png",
        "2026-10.csv",
        "2026-10.parquet",
        "2026-10.png",
    ]
    parquet, info = read_report(gcs_storage, export.files["parquet"])
    csv, _ = read_report(gcs_storage, export.files["csv"])
    assert list(csv.columns) == list(parquet.columns) == list(export.table.columns)
    assert csv[["cluster", "hub", "line"]].values.tolist() == parquet[["cluster", "hub", "line"]].values.tolist()
    assert reconcile(csv, report.export_net_nanos).ok and reconcile(parquet, report.export_net_nanos).ok
    assert info["sharing_policy"] == "proportional" and info["export"]["rows"] == 31 * 150
    assert info["source"] == f"gs://{gcs_bucket}/export/"
    assert export.summary["previous"].notna().sum() >= 7  # every hub had a September
    with fs.open(f"{gcs_bucket}/cost-reports/2026-10.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    days = export_days(report, gcs_storage, folder)
    assert len(days) == 31
    one_day, day_info = read_report(gcs_storage, days["2026-10-07"]["parquet"])
    assert set(one_day["date"]) == {"2026-10-07"}
    assert reconcile(one_day, day_info["export"]["net_nanos"]).ok
