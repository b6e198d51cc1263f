"""The `fresh` check: a hub without a snapshot younger than 26 h fails it, by name."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import yaml

from hub_ops.backup import Repository, create_snapshot
from hub_ops.defs.backups.checks import stale_hubs
from hub_ops_tests.defs.backups.conftest import make_homes
from hub_ops_tests.defs.domain import definitions_with
from hub_ops_tests.tables import rows

UTC = dt.UTC


def _only_local_demo(backup_fleet) -> None:
    """Switch off the hubs whose homes are cluster volumes (no pods run here)."""
    for cluster in ("pangeo-hubs", "community-hubs"):
        path = backup_fleet.root / "clusters" / cluster / "cluster.yaml"
        data = yaml.safe_load(path.read_text())
        for hub in data["hubs"]:
            hub["backups"] = {**(hub.get("backups") or {}), "enabled": False}
        path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_stale_and_missing_hubs_are_named(backup_fleet):
    _only_local_demo(backup_fleet)
    fleet = backup_fleet.resources["fleet"].load()
    storage = backup_fleet.resources["storage"].client()
    repo = Repository.open(fleet.settings.backups.destination, storage)
    make_homes(backup_fleet.homes / "staging")
    now = dt.datetime.now(UTC)
    create_snapshot(repo, "local-demo/staging", backup_fleet.homes / "staging", now=now - dt.timedelta(hours=30))
    table = stale_hubs(fleet, storage, now).set_index("hub")
    assert list(table.index) == ["local-demo/staging", "local-demo/workshop"]
    assert table.loc["local-demo/staging", "problem"] == "older than 26 h"
    assert table.loc["local-demo/workshop", "problem"] == "no snapshot"

    job = definitions_with(backup_fleet.resources).resolve_job_def("backup_freshness_job")
    failing = job.execute_in_process(raise_on_error=False)
    [check] = failing.get_asset_check_evaluations()
    assert not check.passed and check.metadata["stale_hubs"].value == 2
    problems = {r["hub"]: r["problem"] for r in rows(check.metadata["problems"])}
    assert problems == {"local-demo/staging": "older than 26 h", "local-demo/workshop": "no snapshot"}
    assert check.description == "2 of 2 hubs failed: local-demo/staging, local-demo/workshop"

    for hub in ("staging", "workshop"):
        make_homes(backup_fleet.homes / hub)
        create_snapshot(repo, f"local-demo/{hub}", backup_fleet.homes / hub)
    passing = job.execute_in_process()
    [check] = passing.get_asset_check_evaluations()
    assert check.passed and check.metadata["checked"].value == 2
    assert check.description == "every hub backed up within 26 h: 2 of 2 hubs checked"


def test_no_hub_to_back_up_is_a_warning_not_a_pass(backup_fleet):
    _only_local_demo(backup_fleet)
    path = backup_fleet.root / "clusters" / "local-demo" / "cluster.yaml"
    data = yaml.safe_load(path.read_text())
    for hub in data["hubs"]:
        hub["backups"] = {**(hub.get("backups") or {}), "enabled": False}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    job = definitions_with(backup_fleet.resources).resolve_job_def("backup_freshness_job")
    [check] = job.execute_in_process(raise_on_error=False).get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == "0 of 0 hubs checked, because no hub of the fleet has backups enabled"


def test_an_unreachable_destination_is_a_finding(example_fleet, tmp_path):
    fleet_yaml = example_fleet / "fleet.yaml"
    fleet_yaml.write_text(
        fleet_yaml.read_text().replace("gs://example-fleet-backups", "gs://bucket-that-does-not-exist")
    )
    from hub_ops.clients.storage import Storage
    from hub_ops.fleet import load_fleet

    table = stale_hubs(
        load_fleet(example_fleet, check_files=False), Storage(local_root=str(tmp_path)), dt.datetime.now(UTC)
    )
    assert not table["fresh"].any() and set(table["problem"]) == {"no snapshot"}


def test_retired_hubs_are_not_expected_to_be_fresh(example_fleet, tmp_path):
    from hub_ops.clients.storage import Storage
    from hub_ops.fleet import load_fleet

    fleet = load_fleet(example_fleet, check_files=False)
    table = stale_hubs(
        fleet, Storage(local_root=str(tmp_path)), dt.datetime.now(UTC), frozenset({"pangeo-hubs/legacy"})
    )
    assert "pangeo-hubs/legacy" not in set(table["hub"]) and "pangeo-hubs/prod" in set(table["hub"])
