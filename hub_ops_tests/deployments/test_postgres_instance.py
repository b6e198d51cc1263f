"""hub_ops on a Dagster instance stored in the local PostgreSQL server (production's storage),
with the repo's run queue: a job run, a schedule tick and a sensor tick, each through the
code the Dagster daemon runs (run queue daemon, scheduler, sensor daemon) against a real
code server process (`dagster api grpc`) loading hub_ops.definitions.
"""

import datetime as dt
import logging
import shutil
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest
import yaml
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._daemon.sensor import execute_sensor_iteration
from dagster._scheduler.scheduler import launch_scheduled_runs

from hub_ops.fleet import load_fleet
from hub_ops_dev.stack.code_server import code_server, daemon_workspace
from hub_ops_tests.conftest import EXAMPLE_FLEET, REPO

LOG = logging.getLogger("hub_ops_tests.postgres_instance")


def postgres_instance_yaml(postgres_url: str) -> dict:
    """The repo's dagster.yaml with its storage moved to Postgres (as production has it)."""
    url = urlparse(postgres_url)
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config["storage"] = {
        "postgres": {
            "postgres_db": {
                "hostname": url.hostname,
                "port": url.port,
                "username": url.username,
                "password": url.password or "",
                "db_name": url.path.lstrip("/"),
                "scheme": "postgresql+psycopg2",
            }
        }
    }
    return config


@pytest.fixture(scope="module")
def fleet_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("postgres-instance") / "fleet"
    shutil.copytree(EXAMPLE_FLEET, root)
    return root


@pytest.fixture(scope="module")
def instance(tmp_path_factory, postgres_server, fleet_root: Path):
    """One instance (and below, one code server) for the module: starting them is the slow part."""
    home = tmp_path_factory.mktemp("dagster_home")
    url = postgres_server.create_database(f"test_instance_{uuid.uuid4().hex[:8]}")
    (home / "dagster.yaml").write_text(yaml.safe_dump(postgres_instance_yaml(url)))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        env.setenv("HUB_OPS_ENV", "local")
        env.setenv("HUB_OPS_FLEET", str(fleet_root))
        env.setenv("HUB_OPS_DATA", str(home / "data"))
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance


@pytest.fixture(scope="module")
def workspace(instance, tmp_path_factory):
    """A daemon's workspace on a code server serving hub_ops.definitions: a process group of
    our own (runs launched through it are its children), stopped at the end."""
    log = tmp_path_factory.mktemp("code-server") / "code-server.log"
    with code_server(log, timeout=90) as port, daemon_workspace(instance, port) as context:
        yield context


def remote_repository(workspace):
    location = workspace.create_request_context().get_code_location("hub_ops")
    return next(iter(location.get_repositories().values()))


def wait_for_run(instance, run_id: str, timeout: float = 90) -> dg.DagsterRunStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = instance.get_run_by_id(run_id).status
        if status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            return status
        time.sleep(0.5)
    raise TimeoutError(f"run {run_id} still {status} after {timeout} s")


def test_instance_storage_is_postgres(instance):
    from dagster_postgres import PostgresRunStorage

    assert isinstance(instance.run_storage, PostgresRunStorage)


def test_schedule_tick_queues_a_run_that_the_queue_launches_and_completes(instance, workspace):
    repo = remote_repository(workspace)
    schedule = repo.get_schedule("clusters_hourly_schedule")
    # RUNNING by default: the scheduler's first iteration records when it started...
    list(launch_scheduled_runs(workspace, LOG, end_datetime_utc=dt.datetime.now(dt.UTC), iteration_times={}))
    state = instance.get_instigator_state(schedule.get_remote_origin_id(), schedule.selector_id)
    start = dt.datetime.fromtimestamp(state.instigator_data.start_timestamp, dt.UTC)
    # ...and an iteration just past the next :17 ticks once
    tick_time = start.replace(minute=17, second=0, microsecond=0)
    if tick_time <= start:
        tick_time += dt.timedelta(hours=1)
    list(
        launch_scheduled_runs(workspace, LOG, end_datetime_utc=tick_time + dt.timedelta(seconds=1), iteration_times={})
    )

    ticks = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
    assert [t.status.value for t in ticks] == ["SUCCESS"]
    assert ticks[0].timestamp == tick_time.timestamp()
    (run_id,) = ticks[0].run_ids
    run = instance.get_run_by_id(run_id)
    assert run.job_name == "clusters_refresh_job" and run.tags["dagster/schedule_name"] == "clusters_hourly_schedule"
    assert run.status == dg.DagsterRunStatus.QUEUED  # the repo's dagster.yaml queues runs

    # the run queue daemon's iteration dequeues it; the default launcher runs it in a subprocess
    list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(workspace))
    assert wait_for_run(instance, run_id) == dg.DagsterRunStatus.SUCCESS
    materialization = instance.get_latest_materialization_event(dg.AssetKey("clusters"))
    assert materialization.run_id == run_id
    checks = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("clusters"), "reachable"), limit=1
    )
    assert checks[0].run_id == run_id


def test_sensor_tick_adds_hub_partitions(instance, workspace, fleet_root):
    repo = remote_repository(workspace)
    sensor = repo.get_sensor("hub_partitions_sensor")
    list(execute_sensor_iteration(workspace, LOG, None, None))

    (tick,) = instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)
    # a tick that requests no runs is SKIPPED even when it changed partitions
    assert tick.status.value == "SKIPPED" and tick.error is None
    assert [r.added_partitions for r in tick.tick_data.dynamic_partitions_request_results] == [
        sorted(h.partition_key for h in load_fleet(fleet_root, check_files=False).hubs())
    ]
    wanted = sorted(h.partition_key for h in load_fleet(fleet_root, check_files=False).hubs())
    assert sorted(instance.get_dynamic_partitions("hubs")) == wanted
