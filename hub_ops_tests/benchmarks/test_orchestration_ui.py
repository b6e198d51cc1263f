"""The UI benchmark's batched recording stores what report_runless_asset_event stores: the
same partitions materialized, the same latest event per partition (metadata and tags), the
same asset record, and the fleet's date dimension has exactly the nights recorded; the
`--shape hub` stand-in records and defines the asset partitioned by hub only.
(Its `dagster dev` + Chromium part is too slow for a unit test; the browser tests cover it.)"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from benchmarks.orchestration import build_fleet, environment, fleet_env, fresh_instance
from benchmarks.orchestration_ui import (
    HUB,
    REPO,
    cpu_seconds,
    descendants,
    materialization_entries,
    record_backups,
    set_backups_start,
)
from hub_ops.fleet.loader import load_settings
from hub_ops.fleet.models import partition_start

HUBS = ["cluster-000.staging", "cluster-000.hub-01", "cluster-001.staging"]
NIGHTS = 3
TODAY = dt.date(2026, 3, 15)
KEY = dg.AssetKey("user_home_backups")


def stored(instance) -> tuple[set[str], dict[str, tuple[dict, dict]], str]:
    """(materialized partitions, {partition: (metadata, tags) of its latest event}, the
    asset record's last materialization partition)."""
    records = instance.fetch_materializations(KEY, limit=1000).records
    latest = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        materialization = record.asset_materialization
        latest[materialization.partition] = (dict(materialization.metadata), dict(materialization.tags or {}))
    (asset_record,) = instance.get_asset_records([KEY])
    last = asset_record.asset_entry.last_materialization.asset_materialization.partition
    return set(instance.get_materialized_partitions(KEY)), latest, last


def test_batched_recording_stores_what_report_runless_asset_event_stores(tmp_path: Path):
    root = build_fleet(tmp_path / "fleet", 2, 4)
    set_backups_start(root, TODAY, NIGHTS)
    with environment(fleet_env(root, tmp_path / "data")):
        with fresh_instance("sqlite", hub_keys=HUBS) as instance:
            assert record_backups(instance, HUBS, NIGHTS, TODAY) > 0
            batched = stored(instance)
        with fresh_instance("sqlite", hub_keys=HUBS) as instance:
            for n, night in enumerate(["2026-03-12", "2026-03-13", "2026-03-14"]):
                for entry in materialization_entries(night, HUBS, n):
                    instance.report_runless_asset_event(entry.dagster_event.step_materialization_data.materialization)
            reported = stored(instance)
    # the date dimension as hub_ops.defs.backups.partitions builds it from fleet.yaml
    first = partition_start(load_settings(root).backups.start_date, TODAY)
    nights = ["2026-03-12", "2026-03-13", "2026-03-14"]
    assert (
        dg.DailyPartitionsDefinition(start_date=first.isoformat()).get_partition_keys(
            dt.datetime(2026, 3, 15, 12, tzinfo=dt.UTC)
        )
        == nights
    )
    assert batched[0] == {f"{night}|{hub}" for night in nights for hub in HUBS}
    assert batched == reported
    assert batched[2] == f"2026-03-14|{HUBS[-1]}"
    metadata, tags = batched[1][f"2026-03-13|{HUBS[1]}"]
    assert metadata["hub"] == dg.TextMetadataValue(HUBS[1]) and len(metadata["history"].value.records) == 14
    assert metadata["snapshot_id"] == dg.TextMetadataValue("20260313T020000.000Z-00000001") and not tags


def test_hub_shape_records_one_partition_per_hub_with_the_night_in_its_metadata(tmp_path: Path):
    root = build_fleet(tmp_path / "fleet", 2, 4)
    set_backups_start(root, TODAY, NIGHTS)
    with environment(fleet_env(root, tmp_path / "data")):
        with fresh_instance("sqlite", hub_keys=HUBS) as instance:
            record_backups(instance, HUBS, NIGHTS, TODAY, shape=HUB)
            partitions, latest, last = stored(instance)
            count = len(instance.fetch_materializations(KEY, limit=1000).records)
    assert partitions == set(HUBS) and count == len(HUBS) * NIGHTS
    assert {hub: metadata["night"] for hub, (metadata, _) in latest.items()} == {
        hub: dg.TextMetadataValue("2026-03-14") for hub in HUBS
    }
    assert last == HUBS[-1]


SHAPE_FACTS = """
import json
import dagster as dg
from benchmarks.ui_shape_hub import defs
from hub_ops.definitions import defs as deployed
shaped, deployed = defs(), deployed()
backups, decommissions = shaped.resolve_assets_def("user_home_backups"), shaped.resolve_assets_def("hub_decommissions")
print(json.dumps({
    "partitions": repr(backups.partitions_def),
    "decommission mapping": type(decommissions.get_partition_mapping(backups.key)).__name__,
    "same assets": shaped.resolve_asset_graph().get_all_asset_keys() == deployed.resolve_asset_graph().get_all_asset_keys(),
}))
"""


def test_hub_shape_definitions_partition_the_backups_by_hub_only(tmp_path: Path):
    """In a process of its own, as `dagster dev` loads it (the swap must precede hub_ops.defs)."""
    root = build_fleet(tmp_path / "fleet", 2, 4)
    env = {**os.environ, **fleet_env(root, tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", SHAPE_FACTS], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts == {
        "partitions": repr(dg.DynamicPartitionsDefinition(name="hubs")),
        "decommission mapping": "IdentityPartitionMapping",
        "same assets": True,
    }


def test_cpu_seconds_counts_a_child_process_by_its_command_line():
    """The benchmark's per-load CPU figures: a child that spins 0.5 s of CPU is counted under
    this process, and not when its command line lacks the name asked for."""
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\ninput()"
    child = subprocess.Popen([sys.executable, "-c", spin, "spinner-marker"], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while cpu_seconds([child.pid]) < 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child.pid in descendants(os.getpid())
        assert 0.5 <= cpu_seconds(descendants(os.getpid()), "spinner-marker") < 5
        assert cpu_seconds([child.pid], "no-such-name") == 0
    finally:
        child.kill()
        child.wait()
