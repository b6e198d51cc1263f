"""Attribution on hand-computed cases: each sharing policy, unknown lines, edge cases.

The example fleet: cluster community-hubs (project community-hubs-2024, GKE cluster
community-cluster) has hubs staging, ohw, climatematch and uni (namespace uni-teaching).
One day of rows, amounts chosen so every share is a whole number of cents:

  ohw direct 40 - 10 credits = 30;  uni-teaching direct 70 - 10 = 60  (weights 1 : 2)
  kube:unallocated 9 - 3 = 6;  support 3;  untagged project rows 6   (shared: 15)
  namespace "uni" (not the hub's namespace) 1;  GKE cluster "other" 3;  project "elsewhere" 5
"""

from __future__ import annotations

import dataclasses

import pytest

from hub_ops.costs import CostReport, reconcile
from hub_ops.costs.attribution import attribute, split
from hub_ops.costs.readers import ExportFiles
from hub_ops.fleet import load_fleet
from hub_ops_tests.costs.builders import DAY, row, write

P, C = "community-hubs-2024", "community-cluster"
ROWS = [
    row(P, 40.0, (-10.0,), C, "ohw"),
    row(P, 70.0, (-4.0, -6.0), C, "uni-teaching"),  # two credits on one row
    row(P, 9.0, (-3.0,), C, "kube:unallocated"),
    row(P, 3.0, (), C, "support"),
    row(P, 4.0, (), labels={"purpose": "user-home-backups"}),  # untagged: a bucket label is no GKE label
    row(P, 2.0),
    row(P, 1.0, (), C, "uni"),
    row(P, 3.0, (), "other", "default"),
    row("elsewhere", 5.0),
]


@pytest.fixture
def usage(tmp_path):
    path = write(tmp_path / "export.parquet", ROWS)
    return ExportFiles(path).aggregate(DAY, DAY.replace(day=6))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from hub_ops_tests.conftest import EXAMPLE_FLEET

    return load_fleet(EXAMPLE_FLEET)


def net_by(table, **where):
    selected = table
    for column, value in where.items():
        selected = selected[selected[column] == value]
    return round(float(selected["net_cost"].sum()), 2)


def test_proportional_shares_by_direct_cost(usage, fleet):
    table = CostReport.build(usage, fleet, "proportional").table()
    hubs = table[table["hub"] != ""]
    assert net_by(hubs, hub="ohw", line="hub") == 30.0
    assert net_by(hubs, hub="uni", line="hub") == 60.0
    # shared 15 split 1 : 2 between ohw and uni; staging and climatematch had no direct cost
    assert net_by(hubs, hub="ohw") == 35.0 and net_by(hubs, hub="uni") == 70.0
    assert net_by(hubs, hub="ohw", line="idle") == 2.0 and net_by(hubs, hub="uni", line="idle") == 4.0
    idle_ohw = hubs[(hubs["hub"] == "ohw") & (hubs["line"] == "idle")].iloc[0]
    assert (idle_ohw["cost"], idle_ohw["credits"], idle_ohw["shared_by"]) == (3.0, -1.0, "proportional")
    assert net_by(hubs, hub="uni", line="project-untagged") == 4.0
    assert set(hubs["hub"]) == {"ohw", "uni"}
    assert set(table["sharing_policy"]) == {"proportional"}


def test_even_shares_across_every_hub_of_the_cluster(usage, fleet):
    table = CostReport.build(usage, fleet, "even").table()
    hubs = table[table["hub"] != ""]
    assert {h: net_by(hubs, hub=h) for h in ("staging", "ohw", "climatematch", "uni")} == {
        "staging": 3.75,
        "ohw": 33.75,
        "climatematch": 3.75,
        "uni": 63.75,
    }
    assert set(hubs.loc[hubs["line"] != "hub", "shared_by"]) == {"even"}
    assert net_by(hubs, hub="staging", line="idle") == 1.5


def test_none_keeps_shared_lines_whole(usage, fleet):
    table = CostReport.build(usage, fleet, "none").table()
    assert set(table.loc[table["hub"] != "", "line"]) == {"hub"}
    assert net_by(table, line="idle", hub="") == 6.0
    assert net_by(table, line="support", hub="") == 3.0
    assert net_by(table, line="project-untagged", hub="") == 6.0
    assert net_by(table, hub="ohw") == 30.0


@pytest.mark.parametrize("policy", ["proportional", "even", "none"])
def test_unknown_lines_are_reported_never_shared_never_dropped(usage, fleet, policy):
    report = CostReport.build(usage, fleet, policy)
    table = report.table()
    unknown_ns = table[table["line"] == "unknown-namespace"]
    assert unknown_ns[["cluster", "namespace", "hub", "net_cost"]].values.tolist() == [
        ["community-hubs", "uni", "", 1.0]
    ]
    unknown_cluster = table[table["line"] == "unknown-cluster"]
    assert unknown_cluster[["cluster", "project", "namespace", "net_cost"]].values.tolist() == [
        ["other", P, "default", 3.0]
    ]
    unknown_project = table[table["line"] == "unknown-project"]
    assert unknown_project[["project", "net_cost"]].values.tolist() == [["elsewhere", 5.0]]
    assert round(table["net_cost"].sum(), 2) == 114.0
    assert reconcile(table, report.export_net_nanos).ok


def test_proportional_falls_back_to_even_when_no_hub_had_direct_cost(tmp_path, fleet):
    path = write(tmp_path / "e.parquet", [row(P, 8.0, (), C, "kube:unallocated")])
    usage = ExportFiles(path).aggregate(DAY, DAY.replace(day=6))
    table = CostReport.build(usage, fleet, "proportional").table()
    assert table[["hub", "shared_by", "net_cost"]].values.tolist() == [
        ["climatematch", "even", 2.0],
        ["ohw", "even", 2.0],
        ["staging", "even", 2.0],
        ["uni", "even", 2.0],
    ]


def test_untagged_costs_of_a_project_with_two_fleet_clusters_go_to_both(tmp_path, fleet):
    pangeo = fleet.clusters["pangeo-hubs"]
    twin = dataclasses.replace(fleet)
    twin.clusters = dict(fleet.clusters)
    moved = pangeo.model_copy(deep=True)
    moved.gcp.project = P  # both GCP clusters in one project
    twin.clusters["pangeo-hubs"] = moved
    path = write(tmp_path / "e.parquet", [row(P, 7.0)])
    table = CostReport.build(ExportFiles(path).aggregate(DAY, DAY.replace(day=6)), twin, "even").table()
    assert len(table) == 7 and set(table["cluster"]) == {"community-hubs", "pangeo-hubs"}
    assert round(table["net_cost"].sum(), 2) == 7.0


def test_unknown_policy_is_refused(usage, fleet):
    with pytest.raises(ValueError, match="costs.sharing is 'fair'"):
        attribute(usage, fleet, "fair")


@pytest.mark.parametrize(
    "amount,weights", [(10, [1, 1, 1]), (-10, [1, 2]), (7, [0, 3, 0]), (10**15 + 7, [3, 5, 11]), (0, [1])]
)
def test_split_is_exact(amount, weights):
    parts = split(amount, weights)
    assert sum(parts) == amount
    total = sum(weights)
    assert all(abs(p - amount * w / total) < 1 for p, w in zip(parts, weights))
