"""What else raises an alert: a sensor failing N ticks in a row (ticks recorded in the
instance as the daemon records them), a schedule that did not tick at its cron time, and a
decommission notice and retirement (info, written by the decommission domain's own writer)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    ScheduleInstigatorData,
    SensorInstigatorData,
    TickData,
    TickStatus,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._utils.error import SerializableErrorInfo

from hub_ops.defs.alerts.sources import tick_observations
from hub_ops.defs.decommission.assets import DECOMMISSION_NOTICES
from hub_ops.defs.decommission.records import DECOMMISSIONED, DecommissionRecord
from hub_ops_tests.alerts.fleets import write_alerts
from hub_ops_tests.defs.alerts.test_sensor import Daemon

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def instigator(instance, name: str, kind: InstigatorType) -> InstigatorState:
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="hub_ops.definitions"), location_name="hub_ops"
    )
    origin = RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "__repository__"), name)
    data = (
        SensorInstigatorData(min_interval=30, sensor_type=None)
        if kind == InstigatorType.SENSOR
        else ScheduleInstigatorData(cron_schedule="0 2 * * *", start_timestamp=START.timestamp() - 86400 * 3)
    )
    state = InstigatorState(origin, kind, InstigatorStatus.RUNNING, data)
    instance.add_instigator_state(state)
    return state


def record_tick(instance, state: InstigatorState, at: dt.datetime, failed_in_a_row: int = 0) -> None:
    instance.create_tick(
        TickData(
            instigator_origin_id=state.instigator_origin_id,
            instigator_name=state.instigator_name,
            instigator_type=state.instigator_type,
            status=TickStatus.FAILURE if failed_in_a_row else TickStatus.SKIPPED,
            timestamp=at.timestamp(),
            selector_id=state.selector_id,
            error=SerializableErrorInfo(
                "GitError: git fetch origin: could not read from remote repository", [], "GitError"
            )
            if failed_in_a_row
            else None,
            consecutive_failure_count=failed_in_a_row,
        )
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", ["pangeo-hubs.legacy"])
        yield instance


def test_a_sensor_failing_three_ticks_in_a_row_is_an_incident_until_it_ticks_again(
    example_fleet, instance, http_receiver
):
    write_alerts(
        example_fleet,
        {"failing_ticks": 3, "routes": [{"name": "pager", "webhook": {"url": f"{http_receiver.url}/pager"}}]},
    )
    daemon = Daemon(instance, example_fleet)
    daemon.tick(START)
    sensor = instigator(instance, "deploy_on_push", InstigatorType.SENSOR)
    for i in range(1, 3):
        record_tick(instance, sensor, START + i * MINUTE, failed_in_a_row=i)
        daemon.tick(START + i * MINUTE + dt.timedelta(seconds=5))
    assert http_receiver.requests == [], "two failed ticks are not yet an incident"
    record_tick(instance, sensor, START + 3 * MINUTE, failed_in_a_row=3)
    daemon.tick(START + 3 * MINUTE + dt.timedelta(seconds=5))
    record_tick(instance, sensor, START + 4 * MINUTE, failed_in_a_row=4)
    daemon.tick(START + 4 * MINUTE + dt.timedelta(seconds=5))
    record_tick(instance, sensor, START + 5 * MINUTE)  # the repo is back
    daemon.tick(START + 5 * MINUTE + dt.timedelta(seconds=5))

    bodies = [r.json() for r in http_receiver.requests]
    assert [b["event"] for b in bodies] == ["raised", "resolved"]
    raised = bodies[0]["incident"]
    assert raised["title"] == "sensor deploy_on_push failed 3 ticks in a row" and raised["kind"] == "deploy"
    assert "could not read from remote repository" in raised["detail"]
    assert raised["link"].endswith("/locations/__repository__@hub_ops/sensors/deploy_on_push")


def test_a_schedule_that_did_not_tick_at_its_time_is_reported():
    with dg.instance_for_test() as instance:
        schedule = instigator(instance, "nightly_backups", InstigatorType.SCHEDULE)
        last_night = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)
        record_tick(instance, schedule, last_night - dt.timedelta(days=1))  # ticked the night before
        crons = {"nightly_backups": ("0 2 * * *", "UTC")}
        before = tick_observations(instance, 3, last_night + dt.timedelta(minutes=30), crons, "alerts_sensor")
        after = tick_observations(instance, 3, last_night + dt.timedelta(hours=2), crons, "alerts_sensor")
        record_tick(instance, schedule, last_night)
        ticked = tick_observations(instance, 3, last_night + dt.timedelta(hours=2), crons, "alerts_sensor")
    assert [o.status for o in before] == ["ok"], "within the hour of grace"
    [missed] = after
    assert (missed.status, missed.title, missed.kind) == (
        "failing",
        "schedule nightly_backups did not run at 2026-03-02 02:00 UTC",
        "backup",
    )
    assert [o.status for o in ticked] == ["ok"]


def test_a_sensor_that_stops_ticking_is_reported_until_it_ticks_again():
    with dg.instance_for_test() as instance:
        sensor = instigator(instance, "deploy_on_push", InstigatorType.SENSOR)  # min_interval 30 s
        record_tick(instance, sensor, START)
        observe = lambda at: tick_observations(instance, 3, at, {}, "alerts_sensor")  # noqa: E731
        busy = observe(START + 14 * MINUTE)  # 3 intervals are 90 s, but the grace is 15 minutes
        [stalled] = observe(START + 16 * MINUTE)
        record_tick(instance, sensor, START + 17 * MINUTE)
        again = observe(START + 17 * MINUTE + dt.timedelta(seconds=5))
    assert [o.status for o in busy] == ["ok"]
    assert (stalled.status, stalled.kind) == ("failing", "deploy")
    assert stalled.title == "sensor deploy_on_push has not ticked since 2026-03-02 09:00 UTC"
    assert "every 30 s" in stalled.detail
    assert [o.status for o in again] == ["ok"]


def test_a_decommission_notice_and_a_retirement_are_told_once_as_info(example_fleet, instance, http_receiver):
    write_alerts(
        example_fleet,
        {
            "routes": [
                {
                    "name": "contacts",
                    "webhook": {"url": f"{http_receiver.url}/contacts"},
                    "match": {"kind": ["decommission"]},
                },
                {"name": "errors", "webhook": {"url": f"{http_receiver.url}/errors"}, "match": {"severity": ["error"]}},
            ]
        },
    )
    daemon = Daemon(instance, example_fleet)
    daemon.tick(START)
    # the notice as decommission_job's dry run writes it, and the record its last step writes
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=DECOMMISSION_NOTICES,
            partition="pangeo-hubs.legacy",
            metadata={"report": dg.MetadataValue.md("| what | |\n|---|---|"), "on": "2026-03-16", "days_left": 14},
        )
    )
    daemon.tick(START + MINUTE)
    record = DecommissionRecord(
        hub="pangeo-hubs/legacy",
        state=DECOMMISSIONED,
        decommissioned_on="2026-03-16",
        keep_backups_until="2026-06-14",
        successor="pangeo-hubs/prod",
        final_snapshot="20260316T050000Z-abc",
        destination="gs://example-fleet-backups",
    )
    instance.report_runless_asset_event(record.materialization("pangeo-hubs.legacy", "retired"))
    daemon.tick(START + 2 * MINUTE)
    daemon.tick(START + dt.timedelta(days=2))  # no reminder: info opens nothing

    assert http_receiver.at("/errors") == []
    notice, retired = (r.json() for r in http_receiver.at("/contacts"))
    assert notice["event"] == retired["event"] == "info"
    assert notice["incident"]["title"] == "pangeo-hubs/legacy will be decommissioned on 2026-03-16 (14 days left)"
    assert retired["incident"]["title"] == (
        "pangeo-hubs/legacy: decommissioned on 2026-03-16; homes migrated into pangeo-hubs/prod"
    )
    assert "20260316T050000Z-abc" in retired["incident"]["detail"]
