"""fleet_status rows and summary from plain facts: failing hubs first, each problem named."""

import datetime as dt

from hub_ops.fleet.status import COLUMNS, Backup, HubFacts, Release, fleet_status

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)


def facts(hub: str, **kw) -> HubFacts:
    cluster = hub.split("/")[0]
    return HubFacts(hub=hub, cluster=cluster, provider="gcp", tier="prod", **{"backups_expected": True, **kw})


def fresh(hours: float, verified: bool | None = True) -> Backup:
    return Backup("snap", NOW - dt.timedelta(hours=hours), 4096, verified)


def test_failing_rows_first_and_the_summary_counts_them():
    status = fleet_status(
        [
            facts("a/ok", backup=fresh(3)),
            facts("a/stale", backup=fresh(30)),
            facts("b/never"),
            facts("b/drift", backup=fresh(1), sync="DRIFT", sync_detail="live revision 2, recorded 1"),
            facts("c/bad", backup=fresh(2, verified=False)),
            facts("c/gone", backups_expected=False, retired=True, decommission_state="decommissioned"),
            facts("c/nobackups", backups_expected=False, open_alerts=2),
        ],
        NOW,
    )
    assert [r["hub"] for r in status.rows] == [
        "a/stale",
        "b/drift",
        "b/never",
        "c/bad",
        "c/nobackups",
        "a/ok",
        "c/gone",
    ]
    assert [r["state"] for r in status.rows] == ["failing"] * 5 + ["ok", "retired"]
    by_hub = {r["hub"]: r for r in status.rows}
    assert by_hub["a/stale"]["problems"] == "last snapshot 30 h old"
    assert by_hub["b/never"]["problems"] == "no snapshot"
    assert by_hub["b/drift"]["problems"] == "drifted: live revision 2, recorded 1"
    assert by_hub["c/bad"]["problems"] == "snapshot snap failed verification"
    assert by_hub["c/nobackups"]["problems"] == "2 open alert(s)"
    assert status.summary() == (
        "2 hubs without a backup in 26 h, 1 hub whose last snapshot failed verification, 1 drifted, "
        "1 hub with open alerts; 1 of 6 hubs ok (1 retired)"
    )
    assert all(list(r) == COLUMNS for r in status.rows)


def test_release_cost_and_decommission_columns():
    deployed = NOW - dt.timedelta(days=2, hours=1)
    [row] = fleet_status(
        [
            facts(
                "a/prod",
                backup=fresh(5.25),
                release=Release("1.2.3", "0123456789abcdef0123", deployed),
                sync="in sync",
                net_cost_30d=330.0,
                net_cost_previous_30d=300.0,
                decommission_on=dt.date(2026, 12, 20),
            )
        ],
        NOW,
    ).rows
    assert row["chart version"] == "1.2.3" and row["git sha"] == "0123456789ab"
    assert row["deployed (UTC)"] == "2026-11-30 11:00" and row["sync"] == "in sync"
    assert row["snapshot age (h)"] == round(5.25, 1)
    assert row["snapshot bytes"] == 4096 and row["verified"] is True
    assert row["net cost 30 d"] == 330.0 and row["trend vs previous 30 d (%)"] == 10.0
    assert row["decommission on"] == "2026-12-20" and row["decommission state"] == "scheduled"


def test_nothing_recorded_is_said_not_invented():
    [row] = fleet_status([facts("a/new", backups_expected=False)], NOW).rows
    assert row["state"] == "ok" and row["deployed (UTC)"] == "not deployed by hub_ops"
    assert row["snapshot age (h)"] is None and row["net cost 30 d"] is None
    assert row["trend vs previous 30 d (%)"] is None and row["sync"] == ""
    assert fleet_status([], NOW).summary() == "nothing failing; 0 of 0 hubs ok"
