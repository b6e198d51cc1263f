"""Home storage from real backups of known trees into real destinations (a folder, the GCS
server): per-user bytes and files, totals and growth against a walk of the trees themselves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hub_ops.backup.repository import Repository
from hub_ops.backup.snapshot import create_snapshot
from hub_ops.clients.storage import Storage
from hub_ops.usage.activity import user_key
from hub_ops.usage.homes import home_storage
from hub_ops_tests.usage.trees import total, walk, write_homes

HUB = "test-cluster/test-hub"
NOW = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["file", "gs"])
def destination(request, tmp_path: Path) -> tuple[str, Storage]:
    if request.param == "file":
        return f"file://{tmp_path}/backups", Storage()
    bucket = request.getfixturevalue("gcs_bucket")
    return f"gs://{bucket}/backups", request.getfixturevalue("gcs_storage")


def test_storage_per_user_and_growth_from_the_manifests(destination, tmp_path: Path):
    url, storage = destination
    repo = Repository.open(url, storage)
    homes = tmp_path / "homes"
    homes.mkdir()
    sizes = {f"user{i:02d}": [1000 * (i + 1), 37 * i] for i in range(12)}
    write_homes(homes, sizes)
    (homes / "empty-home").mkdir()
    totals = []
    create_snapshot(repo, HUB, homes, now=NOW - dt.timedelta(days=31))
    totals.append(total(homes))
    write_homes(homes, {"user03": [50_000], "user07": [1234]})
    create_snapshot(repo, HUB, homes, now=NOW - dt.timedelta(days=1))
    totals.append(total(homes))
    write_homes(homes, {"user11": [4096, 4096], "newcomer": [77]})
    create_snapshot(repo, HUB, homes, now=NOW)

    found = home_storage(repo, HUB)
    expected = walk(homes)
    assert found.per_user | {} == expected | {"": (len(b"not a home\n"), 1)}
    assert found.total_bytes == total(homes) and found.users == len(expected) == 14
    assert found.total_files == sum(f for _, f in expected.values()) + 1
    assert found.growth_since_previous == total(homes) - totals[1] == 4096 * 2 + 77
    assert found.growth_30_days == total(homes) - totals[0]

    largest = found.largest(show_names=True)
    ranked = sorted(expected.items(), key=lambda kv: (-kv[1][0], kv[0]))[:10]
    assert [(r["user"], r["bytes"], r["files"]) for r in largest] == [(u, b, f) for u, (b, f) in ranked]
    hashed = found.largest()
    assert [r["user"] for r in hashed] == [user_key(HUB, u) for u, _ in ranked]
    assert not any(u in str(found.summary_row()) for u in expected)  # counts only, no names
    assert found.summary_row()["homes"] == 14


def test_a_hub_without_backups_has_no_figure(tmp_path: Path):
    assert home_storage(Repository.open(f"file://{tmp_path}/none"), HUB) is None


def test_growth_needs_history(tmp_path: Path):
    repo = Repository.open(f"file://{tmp_path}/backups")
    homes = tmp_path / "homes"
    write_homes(homes, {"solo": [10]})
    create_snapshot(repo, HUB, homes, now=NOW)
    found = home_storage(repo, HUB)
    assert found.growth_since_previous is None and found.growth_30_days is None
    assert found.per_user["solo"] == (10, 1)
