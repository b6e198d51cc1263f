"""What the whole graph tells a person: which schedules and sensors run on a fresh instance (as
the README says, row by row), the lineage edges between assets that read each other, and
partitions that start at fleet.yaml's dates."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys

import dagster as dg
import pytest

from hub_ops.definitions import defs
from hub_ops.fleet import FleetConfigError
from hub_ops.fleet.loader import load_settings
from hub_ops.fleet.models import partition_start
from hub_ops_tests.conftest import REPO


@pytest.fixture(scope="module")
def repo():
    return defs().get_repository_def()


def _readme_defaults() -> dict[str, str]:
    """{schedule or sensor name: "on" | "off"} from the README's table."""
    text = (REPO / "README.md").read_text()
    section = text.split("### Schedules and sensors: on or off by default", 1)[1].split("\n## ", 1)[0]
    out = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1] in ("on", "off"):
            out.update({name: cells[1] for name in re.findall(r"`([a-z_]+)`", cells[0])})
    return out


def test_the_readme_says_which_schedules_and_sensors_run_by_default(repo):
    running = (dg.DefaultScheduleStatus.RUNNING, dg.DefaultSensorStatus.RUNNING)
    actual = {d.name: "on" if d.default_status in running else "off" for d in [*repo.schedule_defs, *repo.sensor_defs]}
    assert _readme_defaults() == actual


def test_assets_that_read_each_other_are_linked(repo):
    graph = repo.asset_graph
    parents = {
        key: {p.to_user_string() for p in graph.get(dg.AssetKey(key)).parent_keys}
        for key in ("hub_releases", "hub_decommissions", "decommission_notices", "monthly_cost_report")
    }
    assert parents["hub_releases"] == {"clusters"}
    assert parents["hub_decommissions"] == {"user_home_backups", "hub_releases", "clusters"}
    assert parents["decommission_notices"] == {"user_home_backups", "monthly_cost_report", "clusters"}
    assert parents["monthly_cost_report"] == {"hub_usage", "user_home_backups"}
    # edges only: each job still runs just its own asset
    for job, asset in (("monthly_cost_report_job", "monthly_cost_report"), ("hub_daily_costs_job", "hub_daily_costs")):
        assert {k.to_user_string() for k in repo.get_job(job).asset_layer.executable_asset_keys} == {asset}


def test_partitions_start_at_the_fleets_dates(repo, example_fleet):
    # the example fleet (loaded by the definitions) names both dates
    nights = repo.assets_defs_by_key[dg.AssetKey("user_home_backups")].partitions_def
    days = repo.assets_defs_by_key[dg.AssetKey("hub_daily_costs")].partitions_def
    months = repo.assets_defs_by_key[dg.AssetKey("monthly_cost_report")].partitions_def
    assert nights.get_partitions_def_for_dimension("date").start.date() == dt.date(2026, 11, 1)
    assert (days.start.date(), months.start.date()) == (dt.date(2026, 9, 1), dt.date(2026, 9, 1))
    assert _usage_starts(repo) == (dt.date(2026, 10, 1), dt.date(2026, 10, 1), dt.date(2026, 10, 1))
    # without them: the first of last month, whatever the day
    assert partition_start(None, dt.date(2026, 12, 2)) == dt.date(2026, 11, 1)
    assert partition_start(None, dt.date(2027, 1, 31)) == dt.date(2026, 12, 1)
    assert partition_start(dt.date(2025, 6, 3), dt.date(2027, 1, 31)) == dt.date(2025, 6, 3)
    # a bad date is an error naming the file, line and key
    fleet_yaml = example_fleet / "fleet.yaml"
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    for bad, says in ((f"{tomorrow}", "is in the future"), ("last spring", "valid date")):
        fleet_yaml.write_text(re.sub(r"start_date: 2026-11-01", f"start_date: {bad}", fleet_yaml.read_text()))
        with pytest.raises(FleetConfigError) as error:
            load_settings(example_fleet)
        line = next(i for i, t in enumerate(fleet_yaml.read_text().splitlines(), 1) if "start_date: " + bad in t)
        assert f"fleet.yaml:{line} backups.start_date: " in str(error.value) and says in str(error.value)
        fleet_yaml.write_text(fleet_yaml.read_text().replace(f"start_date: {bad}", "start_date: 2026-11-01"))


def _usage_starts(repo) -> tuple[dt.date, dt.date, dt.date]:
    """First partition of hub_usage, home_storage and community_reports' month."""
    usage, homes, reports = (
        repo.assets_defs_by_key[dg.AssetKey(key)].partitions_def
        for key in ("hub_usage", "home_storage", "community_reports")
    )
    return usage.start.date(), homes.start.date(), reports.get_partitions_def_for_dimension("month").start.date()


def test_usage_partitions_start_at_usage_start_date_or_the_first_of_last_month(example_fleet, tmp_path):
    fleet_yaml = example_fleet / "fleet.yaml"
    stated = fleet_yaml.read_text().replace("start_date: 2026-10-01", "start_date: 2026-10-17")
    fleet_yaml.write_text(stated)
    script = (
        "import sys\n"
        "from hub_ops.definitions import defs\n"
        "from hub_ops_tests.defs.fleet.test_graph import _usage_starts\n"
        "print(*_usage_starts(defs().get_repository_def()))\n"
    )

    def starts(today: str) -> list[str]:
        env = {**os.environ, "HUB_OPS_FLEET": str(example_fleet), "HUB_OPS_DATA": str(tmp_path / "data")}
        env["HUB_OPS_TODAY"] = today
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    # a stated day mid-month: the days from it, the community reports from its month
    assert starts("2026-12-02") == ["2026-10-17", "2026-10-17", "2026-10-01"]
    # no usage.start_date: the first of the month before the day the definitions load
    fleet_yaml.write_text(re.sub(r"usage:\n  start_date: \S+.*\n", "", stated))
    assert "usage:" not in fleet_yaml.read_text()
    assert starts("2026-12-02") == ["2026-11-01"] * 3
    assert starts("2027-01-31") == ["2026-12-01"] * 3
