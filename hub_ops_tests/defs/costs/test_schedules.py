"""Which runs the cost schedules ask for."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from hub_ops.defs.costs.schedules import LATE_DAYS, cost_report_schedule, monthly_cost_report_schedule, monthly_cron


def _run(schedule, when: dt.datetime):
    return schedule(dg.build_schedule_context(scheduled_execution_time=when))


def test_daily_refreshes_the_last_days():
    requests = _run(cost_report_schedule, dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC))
    assert [r.partition_key for r in requests] == ["2026-10-29", "2026-10-30", "2026-10-31"][-LATE_DAYS:]
    assert requests[-1].run_key == "hub_daily_costs:2026-10-31:2026-11-01"


def test_monthly_on_the_first_for_the_month_before():
    request = _run(monthly_cost_report_schedule, dt.datetime(2026, 1, 1, 7, tzinfo=dt.UTC))
    assert (request.partition_key, request.run_key) == ("2025-12-01", "monthly_cost_report:2025-12")
    assert cost_report_schedule.cron_schedule == "0 6 * * *"  # the example fleet's costs.schedule (default)
    assert monthly_cost_report_schedule.cron_schedule == "0 6 1 * *"


def test_the_monthly_report_runs_at_the_daily_time_on_the_first():
    assert monthly_cron("15 4 * * *") == "15 4 1 * *"
    assert monthly_cron("0 6 * * 1-5") == "0 6 1 * *"
