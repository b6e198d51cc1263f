"""The usage schedules ask for the right partitions at the right times."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from hub_ops.defs.usage.schedules import home_storage_schedule, hub_usage_schedule


def requests(schedule, when: dt.datetime) -> list[dg.RunRequest]:
    result = schedule(dg.build_schedule_context(scheduled_execution_time=when))
    return result if isinstance(result, list) else [result]


def test_hub_usage_asks_for_today_and_after_midnight_for_yesterday_too():
    noon = requests(hub_usage_schedule, dt.datetime(2026, 3, 10, 12, 5, tzinfo=dt.UTC))
    assert [r.partition_key for r in noon] == ["2026-03-10"]
    midnight = requests(hub_usage_schedule, dt.datetime(2026, 3, 1, 0, 5, tzinfo=dt.UTC))
    assert [r.partition_key for r in midnight] == ["2026-02-28", "2026-03-01"]
    # one run per hour and day: the next hour's run is not deduplicated away
    later = requests(hub_usage_schedule, dt.datetime(2026, 3, 10, 13, 5, tzinfo=dt.UTC))
    assert later[0].run_key != noon[0].run_key


def test_home_storage_runs_once_a_day():
    (request,) = requests(home_storage_schedule, dt.datetime(2026, 3, 10, 8, 0, tzinfo=dt.UTC))
    assert request.partition_key == "2026-03-10" and request.run_key == "home_storage:2026-03-10"
