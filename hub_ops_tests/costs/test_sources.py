"""Several billing sources, one report: kinds told by columns, one currency, provider column,
and `hub-ops cost-report` over a CUR 2.0 export checked by the independent re-read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hub_ops.cli import main
from hub_ops.clients.billing import billing_source
from hub_ops.clients.storage import Storage
from hub_ops.costs import CostReport, MixedCurrencyError
from hub_ops.costs.crosscheck import cur_net
from hub_ops.costs.errors import BillingExportError
from hub_ops.costs.sources import Sources, detect_format
from hub_ops.fleet import load_fleet
from hub_ops_tests.costs import builders
from hub_ops_tests.costs.cur_builders import DAY, EKS, cur_row, fleet_with_aws, pod, write_cur

END = DAY + dt.timedelta(days=1)
CUR_ROWS = [cur_row(5.00, tags={"user_alpha_eksctl_io_cluster_name": EKS}), pod("staging", 3.0, 2.0)]
GCP_ROWS = [builders.row("community-hubs-2024", 8.0, (-2.0,), "community-cluster", "ohw")]


def _fleet_root(tmp_path, billing: str):
    from hub_ops_tests.conftest import EXAMPLE_FLEET

    root = fleet_with_aws(EXAMPLE_FLEET, tmp_path / "fleet")
    text = (root / "fleet.yaml").read_text()
    start = text.index("  billing:\n")
    end = text.index("  sharing:")
    (root / "fleet.yaml").write_text(text[:start] + billing + text[end:])
    return root


def _write_both(tmp_path, cur_currency="USD"):
    (tmp_path / "gcp").mkdir()
    builders.write(tmp_path / "gcp" / "export.parquet", GCP_ROWS)
    rows = [{**r, "line_item_currency_code": cur_currency} for r in CUR_ROWS]
    write_cur(tmp_path / "cur" / "e" / "data" / "BILLING_PERIOD=2026-10" / "e-00001.snappy.parquet", rows)


def test_kinds_are_told_by_columns(tmp_path):
    _write_both(tmp_path)
    storage = Storage()
    assert detect_format(str(tmp_path / "gcp"), storage) == "gcp"
    assert detect_format(str(tmp_path / "cur"), storage) == "aws-cur"
    (tmp_path / "focus.csv").write_text("BilledCost,EffectiveCost,ChargePeriodStart\n1,1,2026-10-05\n")
    assert detect_format(str(tmp_path / "focus.csv"), storage) == "focus"
    pq.write_table(pa.table({"amount": [1.0], "when": ["x"]}), tmp_path / "odd.parquet")
    with pytest.raises(BillingExportError, match=r"odd\.parquet: cannot tell the export's kind .*\(amount, when\)"):
        detect_format(str(tmp_path / "odd.parquet"), storage)


def test_one_report_across_a_gcp_and_a_cur_source(tmp_path):
    _write_both(tmp_path)
    billing = f"  billing:\n  - files: {tmp_path / 'gcp'}\n  - files: {tmp_path / 'cur'}\n    format: aws-cur\n"
    fleet = load_fleet(_fleet_root(tmp_path, billing))
    source = billing_source(fleet, Storage())
    assert isinstance(source, Sources) and len(source.sources) == 2
    report = CostReport.build(source.aggregate(DAY, END), fleet, "none")
    table = report.table("month")
    by_provider = table.groupby("provider")["net_cost"].sum().round(2).to_dict()
    assert by_provider == {"gcp": 6.00, "aws": 5.00}  # 8 - 2; the CUR's one instance (pods net out)
    hubs = table[table["line"] == "hub"].set_index("hub")["net_cost"].to_dict()
    assert hubs == {"ohw": 6.00, "staging": 3.00}
    net = source.independent_net(DAY, END)
    assert net.total == Decimal("11.00") and net.currencies == {"USD"}


def test_mixed_currencies_across_sources_are_refused(tmp_path):
    _write_both(tmp_path, cur_currency="EUR")
    billing = f"  billing:\n  - files: {tmp_path / 'gcp'}\n  - files: {tmp_path / 'cur'}\n"
    fleet = load_fleet(_fleet_root(tmp_path, billing))
    with pytest.raises(MixedCurrencyError, match="EUR, USD"):
        billing_source(fleet, Storage()).aggregate(DAY, END)


def test_cost_report_cli_reads_a_cur_export_and_reconciles(tmp_path, monkeypatch):
    from hub_ops_dev.sample_cur import CurGenerator, write_export

    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    root = _fleet_root(tmp_path, f"  billing:\n    files: {tmp_path / 'cur'}\n")
    fleet = load_fleet(root)
    # September's last day and October: the report takes October only
    write_export(CurGenerator(fleet, seed=5, net=True).days(dt.date(2026, 9, 30), 32, 300), str(tmp_path / "cur"))
    out = tmp_path / "out"
    args = ["--fleet", str(root), "cost-report", "--month", "2026-10", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "reconciled: the written files equal the export's net total" in result.output
    written = pq.read_table(out / "2026-10.parquet").to_pandas()
    expected = duckdb.sql(
        f"SELECT sum(line_item_net_unblended_cost) FROM read_parquet('{tmp_path}/cur/**/*.parquet') "
        "WHERE line_item_usage_start_date >= '2026-10-01' AND line_item_usage_start_date < '2026-11-01'"
    ).fetchall()[0][0]
    assert round(written["net_cost"].sum(), 2) == pytest.approx(round(expected, 2), abs=0.006)
    assert set(written["provider"]) == {"aws"}
    wrong = CliRunner().invoke(main, [*args, "--export", str(tmp_path / "cur"), "--format", "gcp"])
    assert wrong.exit_code != 0 and "column" in wrong.output


def test_cur_independent_net_per_day_equals_duckdb(tmp_path):
    from hub_ops_dev.sample_cur import CurGenerator, write_export
    from hub_ops_tests.conftest import EXAMPLE_FLEET

    fleet = load_fleet(fleet_with_aws(EXAMPLE_FLEET, tmp_path / "fleet"))
    write_export(CurGenerator(fleet, seed=6).days(dt.date(2026, 10, 1), 3, 200), str(tmp_path / "cur"))
    net = cur_net(str(tmp_path / "cur"), Storage(), dt.date(2026, 10, 1), dt.date(2026, 10, 3))
    rows = duckdb.sql(
        "SELECT strftime(line_item_usage_start_date, '%Y-%m-%d') AS d, sum(line_item_unblended_cost::DECIMAL(38, 9)) "
        f"FROM read_parquet('{tmp_path}/cur/**/*.parquet') WHERE line_item_usage_start_date < '2026-10-03' "
        "GROUP BY d ORDER BY d"
    ).fetchall()
    # each amount is rounded to 9 decimals by each cast: a nano per row at most
    assert sorted(net.net_by_day) == [d for d, _ in rows] == ["2026-10-01", "2026-10-02"]
    for day, value in rows:
        assert abs(net.net_by_day[day] - Decimal(value)) <= Decimal("1e-9") * net.rows_by_day[day]


def test_cur_reader_dropping_credits_fails_the_reconciliation(tmp_path, monkeypatch):
    """The fault is injected into the CUR reader only (negative amounts read as 0: credits and
    refunds lost); the check re-reads the export through crosscheck.cur_net and exits 1."""
    import numpy as np

    from hub_ops.costs import cur

    rows = [cur_row(4.00), cur_row(-1.25, line_type="Credit", operation="")]
    write_cur(tmp_path / "cur" / "e" / "data" / "BILLING_PERIOD=2026-10" / "e-00001.snappy.parquet", rows)
    root = _fleet_root(tmp_path, f"  billing:\n    files: {tmp_path / 'cur'}\n")
    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    reading = cur.to_nanos
    monkeypatch.setattr(cur, "to_nanos", lambda amounts: np.maximum(reading(amounts), 0))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["--fleet", str(root), "cost-report", "--month", "2026-10", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "does not reconcile" in result.output and "**FAILS**" in result.output
    assert sum(pq.read_table(out / "2026-10.parquet")["net_cost"].to_pylist()) == 4.00  # 4.00 - 1.25 expected
