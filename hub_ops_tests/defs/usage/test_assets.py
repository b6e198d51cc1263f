"""hub_usage and home_storage materialized against a real JupyterHub (its own) and real
backups of a known tree, in a copy of the example fleet."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

import dagster as dg
import pytest

from hub_ops.backup.repository import Repository
from hub_ops.backup.snapshot import create_snapshot
from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.storage import Storage
from hub_ops.defs.shared.resources import FleetResource, JupyterHubResource, SopsResource, StorageResource
from hub_ops.defs.usage.assets import home_storage, hub_usage
from hub_ops.fleet import load_fleet
from hub_ops.usage.activity import user_key
from hub_ops_dev.stack.jupyterhub import JupyterHubServer
from hub_ops_tests.usage.hubs import own_hub_fixture

hub = own_hub_fixture()

DEMO_HUBS = {"local-demo/staging", "local-demo/workshop"}  # their values carry the token, in plain text


@pytest.fixture
def fleet_root(example_fleet: Path, hub: JupyterHubServer) -> Path:
    values = example_fleet / "clusters" / "local-demo" / "common.values.yaml"
    values.write_text(values.read_text().replace("local-demo-not-a-secret", hub.api_token))
    return example_fleet


def resources(fleet_root: Path, data: Path, hub: JupyterHubServer) -> dict:
    return {
        "fleet": FleetResource(root=str(fleet_root)),
        "storage": StorageResource(local_root=str(data)),
        "sops": SopsResource(age_key_file=str(data / "no-such-key.txt")),
        "hub_api": JupyterHubResource(url_template=hub.api_url),
    }


def rows_of(result: dg.ExecuteInMemoryResult, key: str) -> dict[str, dict]:
    metadata = result.asset_materializations_for_node(key)[0].metadata
    return {r.data["hub"]: r.data for r in metadata["hubs"].value.records} | {"_": metadata}


def test_hub_usage_counts_todays_users_and_lists_hubs_it_cannot_ask(fleet_root, hub, tmp_path: Path):
    api = HubApi(hub.api_url, hub.api_token)
    now = dt.datetime.now(dt.UTC)
    active = [f"active-{i}-{secrets.token_hex(3)}" for i in range(3)]
    for name in active + [f"idle-{secrets.token_hex(3)}"]:
        api.ensure_user(name)
    for name in active:
        api.set_activity(name, now.isoformat())
    day = now.date().isoformat()
    result = dg.materialize(
        [hub_usage], partition_key=day, resources=resources(fleet_root, tmp_path / "data", hub), raise_on_error=True
    )
    rows = rows_of(result, "hub_usage")
    all_hubs = {h.id for h in load_fleet(fleet_root).hubs()}
    assert set(rows) - {"_"} == all_hubs
    for hub_id in DEMO_HUBS:
        assert rows[hub_id]["active_users"] == len(active) and rows[hub_id]["status"] == "ok"
        assert rows[hub_id]["peak_servers"] == 0 and rows[hub_id]["observations"] == 1
    for hub_id in all_hubs - DEMO_HUBS:  # sops files this test cannot decrypt: the reason, no count
        assert rows[hub_id]["active_users"] is None and rows[hub_id]["status"].startswith("not asked: ")
    assert rows["_"]["active_users"].value == len(active) * len(DEMO_HUBS)
    assert rows["_"]["hubs_not_counted"].value == len(all_hubs - DEMO_HUBS)
    assert hub.api_token not in str(rows)
    # the ledger lies under the reports destination, one file per hub and day
    ledger = tmp_path / "data" / "gcs" / "example-fleet-reports" / "usage" / "activity" / "local-demo" / "staging"
    assert (ledger / f"{day}.json").exists()


def test_home_storage_per_hub_from_the_latest_manifest(fleet_root, hub, tmp_path: Path):
    data = tmp_path / "data"
    homes = tmp_path / "homes"
    sizes = {"alice": 3000, "bruno": 120_000, "carmen": 10}  # not hex: a hash cannot contain them
    for user, size in sizes.items():
        (homes / user).mkdir(parents=True)
        (homes / user / "notebook.ipynb").write_bytes(os.urandom(size))
    storage = Storage(local_root=str(data))
    create_snapshot(Repository.open("gs://example-fleet-backups", storage), "local-demo/staging", homes)
    result = dg.materialize(
        [home_storage], partition_key=dt.date.today().isoformat(), resources=resources(fleet_root, data, hub)
    )
    rows = rows_of(result, "home_storage")
    staging = rows["local-demo/staging"]
    assert staging["home_bytes"] == sum(p.stat().st_size for p in homes.rglob("*") if p.is_file())
    assert staging["homes"] == 3 and staging["home_files"] == 3
    assert rows["local-demo/workshop"]["snapshot"] == "no snapshot yet"
    largest = [r.data for r in rows["_"]["largest_homes"].value.records]
    by_size = sorted(sizes, key=lambda u: -sizes[u])
    assert [r["user"] for r in largest] == [user_key("local-demo/staging", u) for u in by_size]
    assert not any(name in str(rows) for name in sizes)  # names hashed: show_user_names is off
