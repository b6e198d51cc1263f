"""The reconciliation check's independent re-read of the export and its comparison with the
written report files: exact per day in every format, the stated tolerance, the currency, and
reading errors of the report's reader caught (injected into that reader only)."""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub_ops.clients.storage import Storage
from hub_ops.costs import BillingExportError, CostReport, readers
from hub_ops.costs.crosscheck import ExportNet, compare_days, compare_month
from hub_ops.costs.exports import export_days
from hub_ops.costs.readers import ExportFiles
from hub_ops.costs.report import read_report
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_csv, write_ndjson, write_parquet
from hub_ops_tests.conftest import EXAMPLE_FLEET
from hub_ops_tests.costs.builders import DAY, exact_net_by_day, row, table, write

START = dt.date(2026, 10, 1)
FLEET = load_fleet(EXAMPLE_FLEET)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Four days of one generated export in every format; the expectation from its rows."""
    folder = tmp_path_factory.mktemp("exports")
    days = list(ExportGenerator(FLEET, seed=21).days(START, 4, 250))
    write_parquet(days, str(folder / "e.parquet"))
    with open(folder / "e.csv", "w") as f:
        write_csv(days, f)
    with gzip.open(folder / "e.jsonl.gz", "wt") as f:
        write_ndjson(days, f)
    return folder, exact_net_by_day(pa.concat_tables(days))


@pytest.mark.parametrize("name", ["e.parquet", "e.csv", "e.jsonl.gz"])
def test_the_independent_read_is_exact_per_day_in_every_format(exports, name):
    folder, exact = exports
    first, end = START + dt.timedelta(days=1), START + dt.timedelta(days=3)
    net = ExportFiles(str(folder / name)).independent_net(first, end)
    assert net.net_by_day == {d: exact[d] for d in ("2026-10-02", "2026-10-03")}  # only the period
    assert net.rows_by_day == {"2026-10-02": 250, "2026-10-03": 250} and net.currencies == {"USD"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.integers(-5_000_000, 20_000_000_000), st.lists(st.integers(-20_000_000_000, 0), max_size=3)),
        min_size=1,
        max_size=30,
    )
)
def test_the_independent_sum_is_exact_for_any_amounts(tmp_path, amounts):
    rows = [row("p", c / 1e6, tuple(a / 1e6 for a in credits), hour=i % 24) for i, (c, credits) in enumerate(amounts)]
    path = write(tmp_path / "e.parquet", rows)
    exact = sum((Decimal(c) + sum(map(Decimal, credits), Decimal(0)) for c, credits in amounts), Decimal(0)) / 10**6
    assert ExportFiles(path).independent_net(DAY, DAY + dt.timedelta(days=1)).net_by_day == {DAY.isoformat(): exact}


def _net(by_day: dict[str, str]) -> ExportNet:
    return ExportNet("test", {day: Decimal(amount) for day, amount in by_day.items()}, {}, {"USD"})


def _file(*net_costs: float) -> dict[str, pd.DataFrame]:
    return {"csv": pd.DataFrame({"net_cost": list(net_costs)}), "parquet": pd.DataFrame({"net_cost": list(net_costs)})}


def test_the_tolerance_is_half_a_cent_per_rounded_figure():
    # 1.005 may round to 1.00 or 1.01 (a half cent either way); a cent beyond either is not
    for written in ((0.6, 0.4), (0.61, 0.4)):
        assert compare_month("m", _file(*written), _net({"d": "1.005"}), "USD").ok
    for written in ((0.62, 0.4), (0.59, 0.4)):
        assert not compare_month("m", _file(*written), _net({"d": "1.005"}), "USD").ok
    # three days each rounded down by 0.004: the total is 0.012 off, within 3 half cents
    net = _net({"2026-10-01": "1.004", "2026-10-02": "2.004", "2026-10-03": "3.004"})
    files = {d: _file(v) for d, v in (("2026-10-01", 1.0), ("2026-10-02", 2.0), ("2026-10-03", 3.0))}
    check = compare_days(files, net, "USD")
    assert check.ok and check.comparisons[-1].label == "total"
    assert check.comparisons[-1].difference == Decimal("-0.012") and check.comparisons[-1].tolerance == Decimal(
        "0.0151"
    )
    files["2026-10-02"] = _file(2.01)  # one day a cent off
    check = compare_days(files, net, "USD")
    assert [c.label for c in check.failed] == ["2026-10-02"]
    assert "| 2026-10-02 | 2.01 | 2.01 | 2.004 |  | +0.006 | ±0.0051 | **FAILS** |" in check.markdown()


def test_a_day_the_files_miss_and_a_foreign_currency_fail():
    check = compare_days({"2026-10-01": _file(1.0)}, _net({"2026-10-01": "1", "2026-10-02": "5"}), "USD")
    assert [c.label for c in check.failed] == ["2026-10-02", "total"]
    check = compare_month("m", _file(1.0), _net({"d": "1"}), "EUR")
    assert (
        not check.ok and not check.currency_ok and "**the report's currency is not the export's**" in check.markdown()
    )


def test_the_independent_read_names_the_file_it_cannot_read(tmp_path):
    path = write(tmp_path / "e.parquet", [row("p", 1.0)])
    import pyarrow.parquet as pq

    pq.write_table(table([row("p", 1.0)]).drop_columns(["cost"]), path)
    with pytest.raises(BillingExportError, match=r"e\.parquet: cannot re-read the export for the reconciliation check"):
        ExportFiles(path).independent_net(DAY, DAY + dt.timedelta(days=1))
    with pytest.raises(BillingExportError, match="no such file or folder"):
        ExportFiles(str(tmp_path / "missing")).independent_net(DAY, DAY)


def test_a_csv_reader_that_loses_the_credits_is_caught(exports, tmp_path, monkeypatch):
    """The report's CSV reader parses nested columns with Arrow's JSON reader; break it for
    credits only. The independent read (Python's json) still sees them: the check fails."""
    folder, _ = exports
    end = START + dt.timedelta(days=4)

    def daily_check():
        report = CostReport.build(ExportFiles(str(folder / "e.csv")).aggregate(START, end), FLEET)
        written = export_days(report, Storage(), str(tmp_path))
        read_back = {d: {f: read_report(Storage(), u)[0] for f, u in files.items()} for d, files in written.items()}
        net = ExportFiles(str(folder / "e.csv")).independent_net(START, end)
        return compare_days(read_back, net, report.currency, report.export_net_nanos_by_day())

    assert daily_check().ok
    parse = readers.parse_json_column

    def credits_lost(texts, type_, where="", name=""):
        parsed = parse(texts, type_, where, name)
        return pa.array([[]] * len(parsed), type_) if name == "credits" else parsed

    monkeypatch.setattr(readers, "parse_json_column", credits_lost)
    check = daily_check()
    assert len(check.failed) == 5  # four days and the total
    for c in check.comparisons:  # the report is internally consistent: its own totals agree with its files
        assert abs(c.files["csv"] - c.reader) <= c.tolerance and c.difference > Decimal("1")
