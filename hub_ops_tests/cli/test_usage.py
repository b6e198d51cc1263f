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


def test_community_report_writes_the_page_of_a_hub(hub, tmp_path: Path, monkeypatch):
    """Activity from the hub's API, a backup of a known tree: the page written to --out says
    what the test did, names no one, and says which days and figures are missing."""
    from hub_ops.backup.repository import Repository
    from hub_ops.backup.snapshot import create_snapshot

    data = tmp_path / "data"
    monkeypatch.setenv("HUB_OPS_DATA", str(data))
    monkeypatch.setenv("HUB_OPS_TODAY", "2025-05-20")  # the month is running: reported up to today
    storage = Storage(local_root=str(data))  # fleet.yaml's gs:// destinations, mapped under HUB_OPS_DATA
    api = HubApi(hub.api_url, hub.api_token)
    ledger = UsageLedger(storage, ledger_folder("gs://example-fleet-reports"))
    names = [f"page-{i}-{secrets.token_hex(3)}" for i in range(3)]
    for name in names:
        api.ensure_user(name)
    for day, users in ((6, names[:2]), (7, names[1:])):
        for name in users:
            api.set_activity(name, dt.datetime(2025, 5, day, 8, tzinfo=dt.UTC).isoformat())
        record_hub(api, HUB_ID, ledger, at=dt.datetime(2025, 5, day, 9, tzinfo=dt.UTC))
    homes = tmp_path / "homes"
    for i, name in enumerate(names):
        (homes / name).mkdir(parents=True)
        (homes / name / "notes.txt").write_bytes(b"n" * (100 * (i + 1)))
    repo = Repository.open("gs://example-fleet-backups", storage)
    create_snapshot(repo, HUB_ID, homes, now=dt.datetime(2025, 5, 10, 2, tzinfo=dt.UTC))

    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["--fleet", str(EXAMPLE_FLEET), "community-report", "--hub", HUB_ID, "--month", "2025-05", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert f"{HUB_ID}, 2025-05: monthly active users 3, days observed 2 of 20, net cost unknown" in result.output
    md = (out / "local-demo" / "staging" / "2025-05.md").read_text()
    html = (out / "local-demo" / "staging" / "2025-05.html").read_text()
    assert "The month is not over: figures up to 2025-05-20." in md
    assert "| 3 | 2 of 20 | 2025-05-06 (2 users) |" in md
    assert "No observation of the hub for 18 of 20 days (1-5 May, 8-20 May)" in md
    assert "the month's cost and cost per active user are unknown" in md  # no cost report here
    assert "| 3 | 600 bytes |" in md  # homes, total at the month's last snapshot (100 + 200 + 300)
    assert "Decommission notice" not in md  # local-demo/staging has no decommission date
    assert not any(name in md or name in html for name in names)
    assert html.startswith("<!DOCTYPE html>") and html.count('src="data:image/png;base64,') == 2


def test_community_report_to_s3_says_what_is_missing(s3_bucket, aws_env, tmp_path: Path, monkeypatch):
    import boto3

    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))  # nothing recorded there
    monkeypatch.setenv("HUB_OPS_TODAY", "2025-06-02")
    args = [
        "community-report",
        "--hub",
        "local-demo/workshop",
        "--month",
        "2025-05",
        "--out",
        f"s3://{s3_bucket}/pages",
    ]
    result = CliRunner().invoke(main, ["--fleet", str(EXAMPLE_FLEET), *args])
    assert result.exit_code == 0, result.output
    assert "monthly active users unknown, days observed 0 of 31, net cost unknown" in result.output
    s3 = boto3.client("s3", endpoint_url=aws_env.endpoint)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == ["pages/local-demo/workshop/2025-05.html", "pages/local-demo/workshop/2025-05.md"]
    md = s3.get_object(Bucket=s3_bucket, Key=keys[1])["Body"].read().decode()
    assert "No activity was recorded for this hub in May 2025" in md
    assert "No backup snapshot of this hub's homes in May 2025" in md
    assert "The month is not over" not in md and "data:image" not in md  # no figure, no chart of zeros
