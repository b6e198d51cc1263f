"""Azure cost details exports (EA CSV with PascalCase columns and brace-less Tags, MCA Parquet with
camelCase columns and JSON Tags), attributed by resource group, AKS's node resource group and tags.
Figures on paper, day 2026-10-05, cluster azure-hubs (group 2i2c-Azure-RG, AKS hub-cluster):

  AKS control plane (managedClusters/Hub-Cluster in the group)      2.40  cluster-unattributed
  VM scale set in MC_2I2C-AZURE-RG_HUB-CLUSTER_WESTEUROPE          10.00  cluster-unattributed
  disk of PVC namespace research-hub (node group)                   1.50  hub research
  disk of PVC namespace support (node group)                        0.70  support
  disk of PVC namespace scratch (node group)                        0.25  unknown-namespace
  storage tagged 2i2c.org-Hub-Name: staging (the group)             0.50  hub staging
  storage without tags (the group)                                  0.20  project-untagged
  Refund of that storage                                           -0.30  project-untagged credits
  a resource group outside the fleet                                1.10  unknown-project
  RoundingAdjustment, no resource group                             0.01  unknown-project
  a row of the next day (outside the period)                      100.00  not read
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from hub_ops.clients.storage import Storage
from hub_ops.costs import BillingExportError, CostReport, MixedCurrencyError
from hub_ops.costs.azure import AzureCostExport
from hub_ops.costs.sources import detect_format, export_source
from hub_ops.fleet import load_fleet
from hub_ops_tests.costs.azure_builders import AKS, GROUP, fleet_with_azure

DAY = dt.date(2026, 10, 5)
END = DAY + dt.timedelta(days=1)
SUB = "/subscriptions/2f1b6b0e-8e0c-4d7a-9a55-3c1d2e4f5a6b/resourceGroups"
NODES = f"MC_{GROUP.upper()}_{AKS.upper()}_WESTEUROPE"


def _disk(namespace):
    return {"kubernetes.io-created-for-pvc-namespace": namespace, "kubernetes.io-created-for-pvc-name": "home"}


# (resource group, resource id, tags, charge type, amount)
ROWS = [
    (GROUP, f"{SUB}/{GROUP}/providers/Microsoft.ContainerService/managedClusters/Hub-Cluster", {}, "Usage", 2.40),
    (NODES, f"{SUB}/{NODES}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-user", {}, "Usage", 10.00),
    (NODES, f"{SUB}/{NODES}/providers/Microsoft.Compute/disks/pvc-1", _disk("research-hub"), "Usage", 1.50),
    (NODES, f"{SUB}/{NODES}/providers/Microsoft.Compute/disks/pvc-2", _disk("support"), "Usage", 0.70),
    (NODES, f"{SUB}/{NODES}/providers/Microsoft.Compute/disks/pvc-3", _disk("scratch"), "Usage", 0.25),
    (
        GROUP.lower(),
        f"{SUB}/{GROUP}/providers/Microsoft.Storage/storageAccounts/h",
        {"2i2c.org-Hub-Name": "staging"},
        "Usage",
        0.50,
    ),
    (GROUP, f"{SUB}/{GROUP}/providers/Microsoft.Storage/storageAccounts/logs", {}, "Usage", 0.20),
    (GROUP, f"{SUB}/{GROUP}/providers/Microsoft.Storage/storageAccounts/logs", {}, "Refund", -0.30),
    ("research-data", f"{SUB}/research-data/providers/Microsoft.Storage/storageAccounts/d", {}, "Usage", 1.10),
    ("", "", {}, "RoundingAdjustment", 0.01),
]
NEXT_DAY = ("other", "", {}, "Usage", 100.0)
EXPECTED = {
    ("azure-hubs", "", "cluster-unattributed"): (12.40, 0.0),
    ("azure-hubs", "research", "hub"): (1.50, 0.0),
    ("azure-hubs", "", "support"): (0.70, 0.0),
    ("azure-hubs", "", "unknown-namespace"): (0.25, 0.0),
    ("azure-hubs", "staging", "hub"): (0.50, 0.0),
    ("azure-hubs", "", "project-untagged"): (0.20, -0.30),
    ("", "", "unknown-project"): (1.11, 0.0),
}


def _table(schema: str, currency: str = "EUR") -> pa.Table:
    rows = [*ROWS, NEXT_DAY]
    days = [DAY] * len(ROWS) + [END]
    ea = schema == "ea"
    tags = [json.dumps(r[2])[1:-1] if ea else json.dumps(r[2]) for r in rows]  # EA: members without braces
    return pa.table(
        {
            ("Date" if ea else "date"): [d.strftime("%m/%d/%Y") for d in days] if ea else pa.array(days, pa.date32()),
            ("CostInBillingCurrency" if ea else "costInBillingCurrency"): [r[4] for r in rows],
            ("BillingCurrencyCode" if ea else "billingCurrency"): [currency] * len(rows),
            ("ResourceGroup" if ea else "resourceGroupName"): [r[0] for r in rows],
            "ResourceId": [r[1] for r in rows],
            ("Tags" if ea else "tags"): tags,
            ("ChargeType" if ea else "chargeType"): [r[3] for r in rows],
            ("PricingModel" if ea else "pricingModel"): ["On Demand"] * len(rows),
        }
    )


def _write(table: pa.Table, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".parquet"):
        pq.write_table(table, path)
    elif path.name.endswith(".gz"):
        with gzip.open(path, "wb") as sink:
            pv.write_csv(table, sink)
    else:
        pv.write_csv(table, path)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from hub_ops_tests.conftest import EXAMPLE_FLEET

    return load_fleet(fleet_with_azure(EXAMPLE_FLEET, tmp_path_factory.mktemp("f") / "fleet"))


@pytest.mark.parametrize("schema,name", [("ea", "part_0_0001.csv"), ("ea", "part.csv.gz"), ("mca", "part.parquet")])
def test_rows_attributed_by_group_node_group_and_tags_on_paper(tmp_path, fleet, schema, name):
    _write(_table(schema), tmp_path / "export" / name)
    url = str(tmp_path / "export")
    assert detect_format(url, Storage()) == "azure"
    source = export_source(url, Storage())
    usage = source.aggregate(DAY, END)
    table = CostReport.build(usage, fleet, "none").table("month")
    got = table.groupby(["cluster", "hub", "line"])[["cost", "credits"]].sum().round(2)
    assert {k: tuple(v) for k, v in zip(got.index, got.to_numpy().tolist())} == EXPECTED
    assert set(table["provider"]) == {"azure"} and set(table["currency"]) == {"EUR"}
    assert round(table["net_cost"].sum(), 2) == round(sum(r[4] for r in ROWS), 2) == 16.36
    assert usage.rows_read == len(ROWS) + 1
    # the node group's rows keep the group as their project; the control plane's is the cluster's group
    assert set(table[table["line"] == "cluster-unattributed"]["project"]) == {GROUP.lower(), NODES.lower()}
    assert source.independent_net(DAY, END).total == Decimal("16.36")


def test_proportional_sharing_splits_node_cost_over_the_hubs(tmp_path, fleet):
    _write(_table("ea"), tmp_path / "export" / "part.csv")
    table = CostReport.build(AzureCostExport(str(tmp_path / "export")).aggregate(DAY, END), fleet, "proportional")
    table = table.table("month")
    hubs = table[table["cluster"] == "azure-hubs"].groupby("hub")["net_cost"].sum().to_dict()
    # shared lines (12.40 + 0.70 - 0.10) split 1.50 : 0.50 between research and staging
    assert hubs == pytest.approx({"": 0.25, "research": 1.50 + 13.00 * 0.75, "staging": 0.50 + 13.00 * 0.25}, abs=0.011)


def test_datasets_runs_currencies_and_missing_columns(tmp_path):
    base = tmp_path / "exp" / "hub-ops-costs" / "20261001-20261031"
    _write(_table("ea"), base / "run-a" / "part_0_0001.csv")
    (base / "run-a" / "manifest.json").write_text(json.dumps({"exportConfig": {"type": "AmortizedCost"}}))
    assert detect_format(str(tmp_path / "exp"), Storage()) == "azure"  # manifest.json is not a data file
    assert AzureCostExport(str(tmp_path / "exp")).dataset() == "AmortizedCost"

    _write(_table("ea"), base / "run-b" / "part_0_0001.csv")
    (base / "run-b" / "manifest.json").write_text(json.dumps({"exportConfig": {"type": "AmortizedCost"}}))
    with pytest.raises(
        BillingExportError, match=r"20261001-20261031: 2 export runs of the same period \(run-a, run-b\)"
    ):
        AzureCostExport(str(tmp_path / "exp")).aggregate(DAY, END)
    (base / "run-b" / "manifest.json").write_text(json.dumps({"exportConfig": {"type": "ActualCost"}}))
    with pytest.raises(BillingExportError, match=r"different datasets \(ActualCost, AmortizedCost\).*never both"):
        AzureCostExport(str(tmp_path / "exp")).aggregate(DAY, END)

    mixed = _table("mca").slice(0, 3).to_pylist() + _table("mca", currency="USD").slice(3, 2).to_pylist()
    _write(pa.Table.from_pylist(mixed), tmp_path / "mixed" / "part.parquet")
    with pytest.raises(MixedCurrencyError, match="EUR, USD"):
        AzureCostExport(str(tmp_path / "mixed")).aggregate(DAY, END)

    _write(_table("ea").drop_columns(["ResourceGroup"]), tmp_path / "bad" / "costs.csv")
    with pytest.raises(BillingExportError, match=r"bad/costs\.csv: column ResourceGroup or resourceGroupName missing"):
        AzureCostExport(str(tmp_path / "bad")).aggregate(DAY, END)
    broken = _table("ea").set_column(5, "Tags", pa.array(['"a": '] * (len(ROWS) + 1)))
    _write(broken, tmp_path / "tags" / "costs.csv")
    with pytest.raises(BillingExportError, match=r"tags/costs\.csv.*column Tags is not JSON"):
        AzureCostExport(str(tmp_path / "tags")).aggregate(DAY, END)


@pytest.mark.parametrize(
    "schema,file_format,dataset", [("ea", "csv", "ActualCost"), ("mca", "parquet", "AmortizedCost")]
)
def test_generated_month_against_duckdb(tmp_path, fleet, schema, file_format, dataset):
    """A generated month: the total, each day and each hub's direct cost, each computed by DuckDB
    SQL over the files (no hub_ops code), equal the report's; the kind is told by the columns,
    the dataset by the run's manifest."""
    import duckdb

    from hub_ops_dev.sample_azure_costs import day_table, write_export

    start = dt.date(2026, 10, 1)
    days = [day_table(fleet, start + dt.timedelta(days=i), schema, dataset, seed=5) for i in range(31)]
    write_export(days, str(tmp_path / "az"), dataset=dataset, file_format=file_format)
    url = str(tmp_path / "az")
    assert detect_format(url, Storage()) == "azure"
    source = export_source(url, Storage())
    assert source.dataset() == dataset
    report = CostReport.build(source.aggregate(start, dt.date(2026, 11, 1)), fleet, "none")

    c = {"ea": ("Date", "CostInBillingCurrency", "Tags"), "mca": ("date", "costInBillingCurrency", "tags")}[schema]
    files = (
        f"read_csv('{url}/**/*.csv', all_varchar=true)"
        if file_format == "csv"
        else f"read_parquet('{url}/**/*.parquet')"
    )
    rows = f"""(SELECT strftime(strptime({c[0]}, '%m/%d/%Y'), '%Y-%m-%d') AS day,
                       CAST({c[1]} AS DECIMAL(38, 9)) AS amount,
                       CASE WHEN starts_with(coalesce({c[2]}, ''), '{{') THEN {c[2]}
                            ELSE '{{' || coalesce({c[2]}, '') || '}}' END AS tags FROM {files})"""
    total = duckdb.sql(f"SELECT round(sum(amount), 2) FROM {rows}").fetchall()[0][0]
    by_day = dict(duckdb.sql(f"SELECT day, round(sum(amount), 2) FROM {rows} GROUP BY day").fetchall())
    namespace = """coalesce(json_extract_string(tags, '$."kubernetes.io-created-for-pvc-namespace"'),
                            json_extract_string(tags, '$."2i2c.org-hub-name"'))"""
    hubs = dict(
        duckdb.sql(
            f"""SELECT CASE {namespace} WHEN 'research-hub' THEN 'research' ELSE {namespace} END AS hub,
                       round(sum(amount), 2) FROM {rows} WHERE {namespace} IN ('research-hub', 'staging') GROUP BY hub"""
        ).fetchall()
    )

    table = report.table("month")
    assert round(table["net_cost"].sum(), 2) == pytest.approx(float(total), abs=0.006)
    daily = report.table("date").groupby("date")["net_cost"].sum()
    assert {str(d): round(v, 2) for d, v in daily.items()} == pytest.approx(
        {d: float(v) for d, v in by_day.items()}, abs=0.011
    )
    direct = table[(table["line"] == "hub") & (table["cluster"] == "azure-hubs")].groupby("hub")["net_cost"].sum()
    assert direct.to_dict() == pytest.approx({h: float(v) for h, v in hubs.items()}, abs=0.011)
    assert {"unknown-namespace", "unknown-project", "cluster-unattributed", "project-untagged"} <= set(table["line"])
    assert table[table["line"] == "project-untagged"]["credits"].sum() < 0  # the Refund, kept


def test_read_from_azure_blob_storage(fleet, az_container, tmp_path):
    """The same export read from Azurite through adlfs (az://) and from local files agree."""
    from hub_ops_dev.sample_azure_costs import day_table, write_export

    start = dt.date(2026, 10, 1)
    days = [day_table(fleet, start + dt.timedelta(days=i), "ea", seed=7) for i in range(3)]
    url = f"az://{az_container}/cost-exports"
    parts = write_export(days, url, Storage())
    assert parts[0].startswith(f"az://{az_container}/cost-exports/hub-ops-costs/20261001-20261031/")
    write_export(days, str(tmp_path / "local"))
    assert detect_format(url, Storage()) == "azure"
    end = start + dt.timedelta(days=3)
    remote = export_source(url, Storage()).aggregate(start, end)
    local = AzureCostExport(str(tmp_path / "local")).aggregate(start, end)
    assert remote.net_nanos == local.net_nanos != 0 and remote.rows_read == local.rows_read == sum(len(d) for d in days)
    assert remote.groups.drop(columns="rows").equals(local.groups.drop(columns="rows"))
    assert (
        AzureCostExport(url).independent_net(start, end).total
        == AzureCostExport(str(tmp_path / "local")).independent_net(start, end).total
    )
