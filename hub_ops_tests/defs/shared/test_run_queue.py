"""The run queue on the nightly backfill, through the code the Dagster daemon runs: the
schedule adds the night's backfill, the backfill daemon creates its runs against a real code
server (`dagster api grpc` on hub_ops.definitions), the run coordinator gives each run its
hub's tag, and the run queue daemon launches them within dagster.yaml's limits (one run per
hub, two backups at a time) on SQLite and on the local PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from hub_ops.defs.backups.schedules import add_nightly_backfill
from hub_ops.defs.shared.resources import FleetResource
from hub_ops.defs.shared.run_queue import HubRunCoordinator, missing_hub_tag
from hub_ops_dev.stack.code_server import code_server, daemon_workspace
from hub_ops_tests.conftest import EXAMPLE_FLEET, REPO
from hub_ops_tests.defs.backups.conftest import make_homes
from hub_ops_tests.deployments.test_postgres_instance import postgres_instance_yaml, wait_for_run

LOG = logging.getLogger("hub_ops_tests.run_queue")
# the hubs with homes on local paths (their runs back up in the run's process); hub ids
# written out, not derived, so a change to how tags are spelt fails here
STAGING, WORKSHOP = "local-demo.staging", "local-demo.workshop"
HUB_IDS = {STAGING: "local-demo/staging", WORKSHOP: "local-demo/workshop"}


def backup_limit() -> int:
    """dagster.yaml's limit on runs tagged hub_ops/kind=backup, read from the file."""
    limits = yaml.safe_load((REPO / "dagster.yaml").read_text())["concurrency"]["runs"]["tag_concurrency_limits"]
    return next(lim["limit"] for lim in limits if lim["key"] == "hub_ops/kind" and lim.get("value") == "backup")


def test_missing_hub_tag():
    assert missing_hub_tag({"dagster/partition/hub": "pangeo-hubs.prod"}) == {"hub_ops/hub": "pangeo-hubs/prod"}
    assert missing_hub_tag({"dagster/partition/hub": "a.b", "hub_ops/hub": "a/b"}) == {}  # set by the job
    assert missing_hub_tag({"dagster/partition": "2026-03-14"}) == {}  # no hub partition: untouched


@pytest.fixture
def fleet_root(tmp_path) -> Path:
    """A private example fleet whose local-demo homes exist."""
    fleet = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, fleet)
    for hub in ("staging", "workshop"):  # home.local_path: ../.data/homes/local-demo/<hub>
        make_homes(tmp_path / ".data" / "homes" / "local-demo" / hub)
    return fleet


@pytest.fixture(params=["sqlite", "postgres"])
def instance(request, tmp_path, fleet_root, monkeypatch):
    """The repo's dagster.yaml (its run coordinator and limits), stored in SQLite or Postgres."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_server").create_database(f"run_queue_{uuid.uuid4().hex[:8]}")
        config = postgres_instance_yaml(url)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("HUB_OPS_ENV", "local")
    monkeypatch.setenv("HUB_OPS_FLEET", str(fleet_root))
    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, HubRunCoordinator)
        yield instance


@pytest.fixture
def workspace(instance, tmp_path):
    """A daemon's workspace on a code server of our own (runs it launches are its children)."""
    with code_server(tmp_path / "code-server.log", timeout=120) as port, daemon_workspace(instance, port) as context:
        yield context


def occupy(instance, hub: str, kind: str) -> dg.DagsterRun:
    """A run in progress on `hub` (as a restore or another backup would be)."""
    run = dg.DagsterRun(
        job_name=f"{kind}_elsewhere",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags={"hub_ops/hub": hub, "hub_ops/kind": kind},
    )
    return instance.add_run(run)


def launched(instance, run_ids) -> set[str]:
    return {r for r in run_ids if instance.get_run_by_id(r).status != dg.DagsterRunStatus.QUEUED}


def test_the_nightly_backfill_runs_queue_per_hub_and_two_backups_at_a_time(instance, workspace, fleet_root):
    instance.add_dynamic_partitions("hubs", [STAGING, WORKSHOP])
    night = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)  # a night whose partition exists
    when = dt.datetime.combine(night + dt.timedelta(days=1), dt.time(2), dt.UTC)
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when) as context:
        add_nightly_backfill(context, FleetResource(root=str(fleet_root)))
    backfill_id = f"nightly-backups-{night.isoformat()}"

    # the backfill daemon creates the runs (one per partition) and submits them to the queue
    deadline = time.monotonic() + 120
    while len(runs := instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))) < 2:
        assert time.monotonic() < deadline, f"backfill {backfill_id} created {len(runs)} runs"
        list(execute_backfill_iteration(workspace, LOG))
    by_hub = {r.tags["dagster/partition/hub"]: r for r in runs}
    assert set(by_hub) == {STAGING, WORKSHOP}
    for key, run in by_hub.items():
        assert run.status == dg.DagsterRunStatus.QUEUED
        assert run.tags["dagster/partition"] == f"{night.isoformat()}|{key}"
        assert run.tags["hub_ops/hub"] == HUB_IDS[key]  # added by HubRunCoordinator
        assert run.tags["hub_ops/kind"] == "backup"  # the backfill's tag
    ids = {key: run.run_id for key, run in by_hub.items()}
    queue = QueuedRunCoordinatorDaemon(interval_seconds=1)

    # every backup slot taken by other hubs' backups, and a restore in progress on staging
    others = [occupy(instance, f"other/hub-{i}", "backup") for i in range(backup_limit())]
    restore = occupy(instance, HUB_IDS[STAGING], "restore")
    list(queue.run_iteration(workspace))
    assert launched(instance, ids.values()) == set()
    # backup slots free again: workshop goes; staging waits for its hub's restore
    for run in others:
        instance.report_run_canceled(run)
    list(queue.run_iteration(workspace))
    assert launched(instance, ids.values()) == {ids[WORKSHOP]}
    instance.report_run_canceled(restore)
    list(queue.run_iteration(workspace))
    assert launched(instance, ids.values()) == set(ids.values())

    for key, run_id in ids.items():
        assert wait_for_run(instance, run_id, timeout=180) == dg.DagsterRunStatus.SUCCESS, key
    records = instance.fetch_materializations(dg.AssetKey("user_home_backups"), limit=10).records
    assert {(r.run_id, r.asset_materialization.partition) for r in records} == {
        (run_id, f"{night.isoformat()}|{key}") for key, run_id in ids.items()
    }
