import datetime as dt

from hub_ops.decommission.calendar import standing
from hub_ops.fleet import load_fleet


def test_phases_of_the_example_legacy_hub(example_fleet):
    fleet = load_fleet(example_fleet)
    legacy = fleet.hub("pangeo-hubs/legacy")  # on 2026-12-14, notice 14 days, keep backups 90 days
    assert standing(fleet.hub("pangeo-hubs/prod"), dt.date(2026, 12, 14)) is None
    before = standing(legacy, dt.date(2026, 11, 29))
    assert (before.phase, before.days_left, before.notice_from) == ("scheduled", 15, dt.date(2026, 11, 30))
    assert standing(legacy, dt.date(2026, 11, 30)).phase == "notice"
    assert standing(legacy, dt.date(2026, 12, 13)).phase == "notice"
    due = standing(legacy, dt.date(2026, 12, 14))
    assert (due.phase, due.days_left, due.keep_backups_until) == ("due", 0, dt.date(2027, 3, 14))
    assert standing(legacy, dt.date(2027, 1, 1)).days_left == -18
