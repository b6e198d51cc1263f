"""Daily usage from a real JupyterHub (its own, started here): users created and their activity
set at known times through the hub's API (POST /users/{name}/activity), real servers started and
stopped; the figures are checked against the test's own record of what it did."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path

import pytest

from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.storage import Storage
from hub_ops.usage import UsageLedger, daily_row, monthly_active_users, record_hub
from hub_ops_dev.stack.jupyterhub import JupyterHubServer
from hub_ops_tests.usage.hubs import own_hub_fixture

hub = own_hub_fixture()

HUB_ID = "test-cluster/test-hub"
UTC = dt.UTC


@pytest.fixture
def api(hub: JupyterHubServer) -> HubApi:
    return HubApi(hub.api_url, hub.api_token)


@pytest.fixture
def ledger(tmp_path: Path) -> UsageLedger:
    return UsageLedger(Storage(), f"file://{tmp_path}/usage")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def test_active_users_per_day_and_mau_follow_the_recorded_activity(api: HubApi, ledger: UsageLedger):
    names = [f"u{i}-{secrets.token_hex(3)}" for i in range(6)]
    for name in names:
        api.ensure_user(name)
    # (observation time, [(user, activity time)]): each user's times only grow, as a hub's do
    script = [
        (at(1, 12), [(0, at(1, 9)), (1, at(1, 11, 30))]),
        (at(2, 0, 20), [(2, at(1, 23, 50))]),  # late evening, seen just after midnight
        (at(2, 18), [(0, at(2, 8)), (3, at(2, 17, 59))]),
        (at(3, 10), [(4, at(3, 9)), (1, at(3, 9, 30))]),
        (at(4, 2), [(0, at(3, 23))]),
    ]
    record: dict[dt.date, set[str]] = {}
    for observed_at, events in script:
        for index, when in events:
            api.set_activity(names[index], when.isoformat())
            record.setdefault(when.date(), set()).add(names[index])
        days, error = record_hub(api, HUB_ID, ledger, at=observed_at)
        assert error is None and [d.day for d in days] == [
            observed_at.date() - dt.timedelta(days=1),
            observed_at.date(),
        ]

    for day in (dt.date(2025, 3, d) for d in range(1, 5)):
        row = daily_row(ledger.day(HUB_ID, day), HUB_ID, day)
        assert row["active_users"] == len(record.get(day, set())), day
        assert row["status"] == "ok"
    month = ledger.month(HUB_ID, dt.date(2025, 3, 1))
    assert monthly_active_users(month) == len(set().union(*record.values())) == 5  # names[5] never active
    # a day observed but with no activity counts 0 (observed); a day never observed is empty, not 0
    assert daily_row(ledger.day(HUB_ID, dt.date(2025, 3, 4)), HUB_ID, dt.date(2025, 3, 4))["active_users"] == 0
    unseen = daily_row(ledger.day(HUB_ID, dt.date(2025, 3, 20)), HUB_ID, dt.date(2025, 3, 20))
    assert unseen["active_users"] is None and unseen["status"] == "no observation of this day"


def test_folding_the_same_observation_twice_changes_nothing(api: HubApi, ledger: UsageLedger, tmp_path: Path):
    name = f"again-{secrets.token_hex(3)}"
    api.ensure_user(name)
    api.set_activity(name, at(10, 8).isoformat())
    record_hub(api, HUB_ID, ledger, at=at(10, 9))
    files = sorted((tmp_path / "usage").rglob("*.json"))
    before = [f.read_bytes() for f in files]
    record_hub(api, HUB_ID, ledger, at=at(10, 9))
    assert [f.read_bytes() for f in files] == before and len(files) == 2


def test_servers_started_and_peak_concurrent_from_real_servers(api: HubApi, ledger: UsageLedger):
    first, second = (f"srv{i}-{secrets.token_hex(3)}" for i in range(2))
    started_days = []
    try:
        for name in (first, second):
            api.ensure_user(name)
            started_days.append(dt.datetime.now(UTC).date())
            api.start_server(name)
        record_hub(api, HUB_ID, ledger)  # both running
        api.stop_server(first)
        now = dt.datetime.now(UTC)
        record_hub(api, HUB_ID, ledger, at=now)  # one running
    finally:  # whatever happened above, no server of this test keeps running
        for name in (first, second):
            if (api.user(name) or {}).get("servers"):
                api.stop_server(name)
    today = now.date()
    row = daily_row(ledger.day(HUB_ID, today), HUB_ID, today)
    assert row["servers_started"] == started_days.count(today)
    assert row["peak_servers"] == 2 and row["observations"] == 2
    # the users' servers were active today: both count as active users
    assert row["active_users"] == 2


def test_a_hub_that_cannot_be_asked_is_listed_with_the_reason(hub: JupyterHubServer, ledger: UsageLedger):
    wrong = HubApi(hub.api_url, "not-the-token-" + secrets.token_hex(8))
    days, error = record_hub(wrong, HUB_ID, ledger, at=at(15, 12))
    assert days == [] and "403" in error and "not-the-token" not in error
    row = daily_row(ledger.day(HUB_ID, dt.date(2025, 3, 15)), HUB_ID, dt.date(2025, 3, 15), error)
    assert row["active_users"] is None and row["servers_started"] is None
    assert row["status"].startswith("not asked: GET ") and "403" in row["status"]
    _, error = record_hub(None, HUB_ID, ledger)
    assert error == "no hub-ops service token in the hub's values"


def test_users_are_listed_page_by_page(api: HubApi):
    created = {f"page-{i}-{secrets.token_hex(3)}" for i in range(5)}
    for name in created:
        api.ensure_user(name)
    listed = [u["name"] for u in api.users(page_size=2)]
    assert created <= set(listed) and len(listed) == len(set(listed))
    assert len(listed) == len(list(api.users(page_size=500)))
