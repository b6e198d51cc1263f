"""Reports: reconciliation to the cent on generated exports whatever the amounts and credits
(hypothesis), rounding, the hubs summary, the chart."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub_ops.costs import CostReport, reconcile, reconcile_days
from hub_ops.costs.attribution import POLICIES
from hub_ops.costs.readers import ExportFiles
from hub_ops.costs.report import cents_half_even, daily_chart_png, hub_summary, round_to_cents
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet
from hub_ops_tests.conftest import EXAMPLE_FLEET
from hub_ops_tests.costs.builders import cents, exact_net_cents

START = dt.date(2026, 10, 30)
DAYS, ROWS_PER_DAY = 3, 80  # crosses a month end: the report is for whatever period is read
FLEET = load_fleet(EXAMPLE_FLEET)
BASE = pa.concat_tables(ExportGenerator(FLEET, seed=11).days(START, DAYS, ROWS_PER_DAY))
N_ROWS = BASE.num_rows
N_CREDITS = len(pc.list_flatten(BASE["credits"]))
# micro-units, as the export's amounts are written; costs can be negative (corrections)
costs = st.lists(st.integers(-5_000_000, 20_000_000_000), min_size=N_ROWS, max_size=N_ROWS)
credits = st.lists(st.integers(-20_000_000_000, 0), min_size=N_CREDITS, max_size=N_CREDITS)


def with_amounts(cost_micros: list[int], credit_micros: list[int]) -> pa.Table:
    """The generated export with its cost and credits.amount replaced."""
    credit_array = BASE["credits"].combine_chunks()
    flat = credit_array.values
    amounts = pa.array(np.array(credit_micros) / 1e6)
    new_flat = pa.StructArray.from_arrays(
        [amounts if f.name == "amount" else flat.field(f.name) for f in flat.type], fields=list(flat.type)
    )
    new_credits = pa.ListArray.from_arrays(credit_array.offsets, new_flat, type=credit_array.type)
    table = BASE.set_column(BASE.schema.get_field_index("cost"), "cost", pa.array(np.array(cost_micros) / 1e6))
    return table.set_column(table.schema.get_field_index("credits"), "credits", new_credits)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cost_micros=costs, credit_micros=credits, policy=st.sampled_from(POLICIES))
def test_lines_reconcile_to_the_exports_net_total_to_the_cent(tmp_path, cost_micros, credit_micros, policy):
    export = with_amounts(cost_micros, credit_micros)
    path = str(tmp_path / "export.parquet")
    write_parquet([export], path)
    usage = ExportFiles(path).aggregate(START, START + dt.timedelta(days=DAYS))
    report = CostReport.build(usage, FLEET, policy)
    table = report.table()

    assert cents(table["net_cost"]) == exact_net_cents(export)  # Decimal over the raw rows
    assert reconcile(table, report.export_net_nanos).ok
    assert all(round(c + k, 2) == round(n, 2) for c, k, n in zip(table["cost"], table["credits"], table["net_cost"]))
    daily = report.table("date")
    assert all(r.ok for r in reconcile_days(daily, report.export_net_nanos_by_day()).values())
    for day in report.days():
        day_export = export.filter(
            pc.equal(pc.cast(export["usage_start_time"], pa.date32()), pa.scalar(day, pa.date32()))
        )
        assert cents(daily.loc[daily["date"] == day.isoformat(), "net_cost"]) == exact_net_cents(day_export)


def test_a_lost_line_is_caught():
    export = with_amounts([1_000_000] * N_ROWS, [-100_000] * N_CREDITS)
    report = _report(export, "proportional")
    table = report.table()
    assert reconcile(table, report.export_net_nanos).ok
    assert not reconcile(table.iloc[1:], report.export_net_nanos).ok
    tampered = table.copy()
    tampered.loc[0, "net_cost"] += 0.01
    check = reconcile(tampered, report.export_net_nanos)
    assert not check.ok and check.difference == pytest.approx(0.01) and "does NOT reconcile" in check.describe("USD")


def _report(export: pa.Table, policy: str) -> CostReport:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        write_parquet([export], f"{folder}/e.parquet")
        usage = ExportFiles(f"{folder}/e.parquet").aggregate(START, START + dt.timedelta(days=DAYS))
    return CostReport.build(usage, FLEET, policy)


@given(st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=40))
def test_round_to_cents_keeps_the_rounded_total(nanos):
    rounded = round_to_cents(nanos)
    assert int(rounded.sum()) == cents_half_even(sum(nanos))
    assert all(abs(r * 10**7 - v) < 2 * 10**7 for r, v in zip(rounded, nanos))


def test_half_even():
    assert [cents_half_even(n) for n in (5_000_000, 15_000_000, -5_000_000, 5_000_001, -15_000_000)] == [0, 2, 0, 1, -2]


def test_hub_summary_with_month_over_month_change():
    export = with_amounts([2_000_000] * N_ROWS, [0] * N_CREDITS)
    table = _report(export, "proportional").table()
    previous = table.copy()
    previous["net_cost"] = previous["net_cost"] / 2
    previous = previous[previous["hub"] != "staging"]
    summary = hub_summary(table, previous)
    assert summary.loc["pangeo-hubs/prod", "change"] == "+100.0%"
    assert summary.loc["pangeo-hubs/staging", "change"] == "new"
    assert summary.loc["total", "net"] == pytest.approx(table["net_cost"].sum())
    assert summary.index[0] == "pangeo-hubs/prod"  # the most expensive hub first
    assert "(unknown-cluster, not charged to a hub)" in summary.index


def test_chart_is_a_png():
    report = _report(with_amounts([3_000_000] * N_ROWS, [0] * N_CREDITS), "even")
    png = daily_chart_png(report.table("date"), "test")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


def test_usage_columns_are_appended_per_hub():
    from hub_ops.costs.report import USAGE_COLUMNS, with_usage

    table = _report(with_amounts([2_000_000] * N_ROWS, [0] * N_CREDITS), "proportional").table()
    hubs = sorted({f"{c}/{h}" for c, h in zip(table["cluster"], table["hub"]) if h})
    users = {hub: i for i, hub in enumerate(hubs)}  # one hub with 0 users: no cost per user
    home = {hubs[-1]: 123_456}
    out = with_usage(table, users, home)
    assert list(out.columns) == list(table.columns) + USAGE_COLUMNS
    assert out[list(table.columns)].equals(table)  # the stable columns are untouched
    for hub in hubs:
        rows = out[(out["cluster"] + "/" + out["hub"]) == hub]
        assert set(rows["active_users"]) == {users[hub]}
        net = sum(float(v) for v in table.loc[rows.index, "net_cost"])
        if users[hub]:
            assert float(rows["cost_per_active_user"].sum()) == pytest.approx(net / users[hub], abs=0.01 * len(rows))
        else:
            assert rows["cost_per_active_user"].isna().all()
    assert out.loc[(out["cluster"] + "/" + out["hub"]) == hubs[-1], "home_bytes"].eq(123_456).all()
    assert out.loc[out["hub"] == "", USAGE_COLUMNS].isna().all().all()
