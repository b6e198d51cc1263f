"""hub-ops cost-report: the month's CSV and Parquet in --out, net_cost summing to the export."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from hub_ops.cli import main
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet
from hub_ops_tests.conftest import EXAMPLE_FLEET
from hub_ops_tests.costs.builders import exact_net_cents

COLUMNS = [
    "month",
    "cluster",
    "hub",
    "line",
    "namespace",
    "project",
    "sharing_policy",
    "shared_by",
    "currency",
    "cost",
    "credits",
    "net_cost",
    "provider",  # appended last (issue 14): older readers keep their column positions
]


def _export(folder) -> pa.Table:
    folder.mkdir(parents=True)
    # October plus a day either side, which the report must leave out
    write_parquet(
        ExportGenerator(load_fleet(EXAMPLE_FLEET), seed=4).days(dt.date(2026, 9, 30), 33, 200),
        str(folder / "export.parquet"),
    )
    table = pq.read_table(folder / "export.parquet")
    days = pa.compute.cast(table["usage_start_time"], pa.date32())
    return table.filter(pa.compute.equal(pa.compute.strftime(days, "%Y-%m"), "2026-10"))


def test_cost_report_writes_the_month(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    october = _export(tmp_path / "export")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "--fleet",
            str(EXAMPLE_FLEET),
            "cost-report",
            "--month",
            "2026-10",
            "--export",
            str(tmp_path / "export"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["2026-10.csv", "2026-10.parquet", "2026-10.png"]
    csv = pd.read_csv(out / "2026-10.csv", keep_default_na=False)
    assert list(csv.columns) == COLUMNS
    assert round(csv["net_cost"].sum() * 100) == exact_net_cents(october)
    assert {
        "hub",
        "idle",
        "support",
        "kube-system",
        "project-untagged",
        "unknown-cluster",
        "unknown-namespace",
        "unknown-project",
    } <= set(csv["line"])
    assert not csv.duplicated(["cluster", "hub", "line", "namespace", "project"]).any()  # one line each
    parquet = pq.read_table(out / "2026-10.parquet").to_pandas()
    assert parquet[["cluster", "hub", "line", "net_cost"]].equals(csv[["cluster", "hub", "line", "net_cost"]])
    assert "reconciled: the written files equal the export's net total" in result.output
    assert "pangeo-hubs/prod" in result.output
    assert "no usage data for 2026-10" in result.output  # and so no usage columns (COLUMNS above)


def test_cost_report_exits_1_when_its_reader_drops_credits(tmp_path, monkeypatch):
    """The fault is injected into the report's reader only; the check re-reads the export
    through hub_ops.costs.crosscheck and so sees the difference."""
    from hub_ops.costs import usage

    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    october = _export(tmp_path / "export")
    monkeypatch.setattr(usage, "credit_sums", lambda credits: np.zeros(len(credits), dtype=np.int64))
    args = ["--fleet", str(EXAMPLE_FLEET), "cost-report", "--month", "2026-10"]
    result = CliRunner().invoke(main, [*args, "--export", str(tmp_path / "export"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "does not reconcile" in result.output and "**FAILS**" in result.output
    # the credits it dropped are what the files miss: computed from the raw rows
    credits = sum(c["amount"] for row in october.column("credits").to_pylist() for c in row or [])
    lines = pd.read_csv(tmp_path / "out" / "2026-10.csv", keep_default_na=False)["net_cost"]
    assert credits < 0
    assert abs(lines.sum() - (exact_net_cents(october) / 100 - credits)) <= 0.005 * len(lines) + 0.01


def test_sharing_override_and_the_fleets_billing_default(tmp_path, monkeypatch, example_fleet):
    data = tmp_path / "data"
    monkeypatch.setenv("HUB_OPS_DATA", str(data))
    # fleet.yaml's costs.billing.files is gs://example-fleet-billing/export/: locally under HUB_OPS_DATA/gcs
    _export(data / "gcs" / "example-fleet-billing" / "export")
    result = CliRunner().invoke(
        main,
        [
            "--fleet",
            str(example_fleet),
            "cost-report",
            "--month",
            "2026-10",
            "--sharing",
            "none",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    csv = pd.read_csv(tmp_path / "out" / "2026-10.csv", keep_default_na=False)
    assert set(csv["sharing_policy"]) == {"none"} and set(csv.loc[csv["hub"] != "", "line"]) == {"hub"}
    assert "gs://example-fleet-billing/export/" in result.output


def test_errors_are_clear(tmp_path):
    runner = CliRunner()
    bad_month = runner.invoke(main, ["--fleet", str(EXAMPLE_FLEET), "cost-report", "--month", "2026-13"])
    assert bad_month.exit_code == 2 and "'2026-13' is not a month as YYYY-MM" in bad_month.output
    missing = runner.invoke(
        main,
        [
            "--fleet",
            str(EXAMPLE_FLEET),
            "cost-report",
            "--month",
            "2026-10",
            "--export",
            str(tmp_path / "nothing"),
            "--out",
            str(tmp_path),
        ],
    )
    assert missing.exit_code == 1 and "nothing: no such file or folder" in missing.output


def test_cost_report_gains_the_usage_columns_when_usage_is_recorded(tmp_path, monkeypatch):
    from hub_ops.backup.repository import Repository
    from hub_ops.backup.snapshot import create_snapshot
    from hub_ops.clients.storage import Storage
    from hub_ops.usage.activity import Observation, UsageLedger
    from hub_ops.usage.tables import ledger_folder

    data = tmp_path / "data"
    monkeypatch.setenv("HUB_OPS_DATA", str(data))
    _export(tmp_path / "export")
    # fleet.yaml's gs:// reports and backups destinations live under HUB_OPS_DATA/gcs locally
    storage = Storage(local_root=str(data))
    ledger = UsageLedger(storage, ledger_folder("gs://example-fleet-reports"))
    for day, users in ((2, ["a", "b"]), (17, ["b", "c"])):  # pangeo-hubs/prod: 3 distinct users
        at = dt.datetime(2026, 10, day, 12, tzinfo=dt.UTC)
        ledger.record(Observation("pangeo-hubs/prod", at, [(u, at) for u in users], [], 0))
    homes = tmp_path / "homes"
    for user, size in (("ana", 1500), ("ben", 70)):
        (homes / user).mkdir(parents=True)
        (homes / user / "data.bin").write_bytes(b"x" * size)
    create_snapshot(Repository.open("gs://example-fleet-backups", storage), "pangeo-hubs/prod", homes)
    args = ["--fleet", str(EXAMPLE_FLEET), "cost-report", "--month", "2026-10", "--export", str(tmp_path / "export")]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "usage columns: active users of 1 hubs, home bytes of 1 hubs" in result.output
    csv = pd.read_csv(tmp_path / "out" / "2026-10.csv", keep_default_na=False)
    assert list(csv.columns) == COLUMNS + ["active_users", "cost_per_active_user", "home_bytes"]
    prod = csv[(csv["cluster"] == "pangeo-hubs") & (csv["hub"] == "prod")]
    assert set(prod["active_users"]) == {"3"} and set(prod["home_bytes"]) == {"1570"}  # read as text (no NA)
    per_user = prod["cost_per_active_user"].astype(float)
    assert abs(per_user.sum() - prod["net_cost"].sum() / 3) <= 0.01 * len(prod)
    others = csv[(csv["hub"] != "") & (csv["hub"] != "prod")]
    assert set(others["active_users"]) == {""} and set(others["home_bytes"]) == {""}  # unknown: empty, not 0
