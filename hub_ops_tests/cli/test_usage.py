"""hub-ops usage: the month's table from a ledger recorded from a real JupyterHub (its own),
checked against the test's own record of activity."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

from click.testing import CliRunner

from hub_ops.cli import main
from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.storage import Storage
from hub_ops.usage.activity import UsageLedger, record_hub
from hub_ops.usage.tables import ledger_folder
from hub_ops_tests.conftest import EXAMPLE_FLEET
from hub_ops_tests.usage.hubs import own_hub_fixture

hub = own_hub_fixture()
HUB_ID = "local-demo/staging"


def run(*args: str):
    return CliRunner().invoke(main, ["--fleet", str(EXAMPLE_FLEET), "usage", *args])


def test_usage_prints_mau_per_hub_and_one_hub_by_day(hub, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    api = HubApi(hub.api_url, hub.api_token)
    # gs://example-fleet-reports (fleet.yaml) lives under HUB_OPS_DATA/gcs locally
    ledger = UsageLedger(Storage(local_root=str(tmp_path / "data")), ledger_folder("gs://example-fleet-reports"))
    names = [f"cli-{i}-{secrets.token_hex(3)}" for i in range(4)]
    for name in names:
        api.ensure_user(name)
    record = {}  # day -> users active
    for day, users in ((3, names[:3]), (4, names[1:2]), (9, names[2:4])):
        for name in users:
            api.set_activity(name, dt.datetime(2025, 5, day, 10, tzinfo=dt.UTC).isoformat())
        record_hub(api, HUB_ID, ledger, at=dt.datetime(2025, 5, day, 11, tzinfo=dt.UTC))
        record[day] = set(users)

    result = run("--month", "2025-05")
    assert result.exit_code == 0, result.output
    line = next(row for row in result.output.splitlines() if f"| {HUB_ID} " in row)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[:5] == [
        HUB_ID,
        "2025-05",
        str(len(set().union(*record.values()))),
        "3",
        str(max(map(len, record.values()))),
    ]
    other = next(row for row in result.output.splitlines() if "| local-demo/workshop " in row)
    assert [c.strip() for c in other.strip("|").split("|")][2:4] == ["", "0"]  # never observed: empty, not 0

    by_day = run("--month", "2025-05", "--hub", "local-demo.staging")
    assert by_day.exit_code == 0, by_day.output
    for day, users in record.items():
        row = next(r for r in by_day.output.splitlines() if f"| 2025-05-{day:02d} " in r)
        assert [c.strip() for c in row.strip("|").split("|")][2] == str(len(users))
    assert not any(name in result.output + by_day.output for name in names)


def test_usage_refuses_a_bad_month_and_an_unknown_hub(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    bad = run("--month", "May 2025")
    assert bad.exit_code == 2 and "'May 2025' is not a month as YYYY-MM" in bad.output
    unknown = run("--month", "2025-05", "--hub", "local-demo/nope")
    assert unknown.exit_code == 1 and "no hub 'local-demo/nope'" in unknown.output
    empty = run("--month", "2025-06")
    assert empty.exit_code == 0 and "nothing recorded for 2025-06" in empty.output
