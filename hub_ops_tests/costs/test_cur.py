"""AWS CUR 2.0 with split cost allocation data, on a day a person can add up on paper.

Account 123456789012, EKS cluster aws-hubs-cluster (fleet cluster aws-hubs; hubs staging and
science, the latter in namespace science-hub):

  node instance 10.50 (eksctl tag); pods: staging split 3.00 + unused 1.00, science-hub (pod ARN
  only, no tags) 4.00 + 1.50, support 0.40 + 0.10  -> the node's unsplit rest 10.50 - 10.00 = 0.50
  EFS tagged science 2.00; S3 tagged staging without cluster tag 1.00
  NAT (untagged) 0.60, Tax 0.30, Credit -0.90, Refund -0.20  -> project-untagged 0.90 - 1.10
  an unknown EKS cluster 0.70, an unknown account 0.25
  staging 4.00, science 6.00, idle 2.60, support 0.40, cluster-unattributed 0.50; total 14.25
"""

from __future__ import annotations

import datetime as dt

import pytest

from hub_ops.costs import CostReport, MixedCurrencyError
from hub_ops.costs.cur import TIME, CurExport, period_overlaps
from hub_ops.costs.errors import BillingExportError
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_cur import CUR_SCHEMA
from hub_ops_tests.costs.cur_builders import ACCOUNT, DAY, EKS, cur_row, fleet_with_aws, pod, write_cur

END = DAY + dt.timedelta(days=1)
EKSCTL = {"user_alpha_eksctl_io_cluster_name": EKS}
ROWS = [
    cur_row(10.50, tags=EKSCTL, resource="i-0abc"),
    pod("staging", 3.00, 1.00),
    pod(None, 4.00, 1.50, cluster=None, arn_namespace="science-hub"),
    pod("support", 0.40, 0.10),
    cur_row(2.00, operation="Storage", tags={"user_2i2c_hub_name": "science", "user_2i2c_org_cluster_name": EKS}),
    cur_row(1.00, operation="StandardStorage", tags={"user_2i2c_hub_name": "staging"}),
    cur_row(0.60, operation="NatGateway"),
    cur_row(0.30, line_type="Tax", operation=""),
    cur_row(-0.90, line_type="Credit", operation=""),
    cur_row(-0.20, line_type="Refund", operation=""),
    cur_row(0.70, tags={"user_alpha_eksctl_io_cluster_name": "other-cluster"}),
    cur_row(0.25, account="999988887777", operation="PutObject"),
    cur_row(99.0, day=DAY + dt.timedelta(days=1)),  # outside the period
]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from hub_ops_tests.conftest import EXAMPLE_FLEET

    return load_fleet(fleet_with_aws(EXAMPLE_FLEET, tmp_path_factory.mktemp("f") / "fleet"))


def _export(tmp_path, rows=ROWS, net=False):
    folder = tmp_path / "cur"
    write_cur(folder / "hub-ops-cur/data/BILLING_PERIOD=2026-10/hub-ops-cur-00001.snappy.parquet", rows, net)
    return CurExport(str(folder))


def _lines(report) -> dict[tuple[str, str, str], float]:
    table = report.table("month")
    out: dict[tuple[str, str, str], float] = {}
    for r in table.itertuples(index=False):
        key = (r.cluster, r.hub, r.line)
        out[key] = round(out.get(key, 0.0) + r.net_cost, 2)
    return out


def test_split_pods_hub_tags_idle_and_rest_on_paper(tmp_path, fleet):
    usage = _export(tmp_path).aggregate(DAY, END)
    report = CostReport.build(usage, fleet, "none")
    assert _lines(report) == {
        ("aws-hubs", "staging", "hub"): 4.00,
        ("aws-hubs", "science", "hub"): 6.00,
        ("aws-hubs", "", "idle"): 2.60,
        ("aws-hubs", "", "support"): 0.40,
        ("aws-hubs", "", "cluster-unattributed"): 0.50,
        ("aws-hubs", "", "project-untagged"): -0.20,
        ("other-cluster", "", "unknown-cluster"): 0.70,
        ("", "", "unknown-project"): 0.25,
    }
    table = report.table("month")
    assert list(table.columns)[-1] == "provider" and set(table["provider"]) == {"aws"}
    untagged = table[table["line"] == "project-untagged"].iloc[0]
    assert (untagged.cost, untagged.credits, untagged.project) == (0.90, -1.10, ACCOUNT)
    assert round(table["net_cost"].sum(), 2) == 14.25 == report.export_totals()["net_cost"]
    assert usage.rows_read == len(ROWS) and report.export_totals()["rows"] == len(ROWS) - 1


def test_proportional_sharing_of_aws_shared_lines(tmp_path, fleet):
    report = CostReport.build(_export(tmp_path).aggregate(DAY, END), fleet, "proportional")
    table = report.table("month")
    hubs = table[table["hub"] != ""].groupby("hub")["net_cost"].sum().round(2).to_dict()
    # shared: idle 2.60 + support 0.40 + rest 0.50 + untagged -0.20 = 3.30, split 4 : 6
    assert hubs == {"staging": 5.32, "science": 7.98}
    assert round(table["net_cost"].sum(), 2) == 14.25


def test_net_unblended_column_is_the_amount_when_present(tmp_path, fleet):
    rows = [
        cur_row(10.0, tags=EKSCTL, net=9.0),
        {**pod("staging", 6.0, 4.0), "line_item_net_unblended_cost": 0.0},
        cur_row(-1.0, line_type="Credit", operation="", net=-1.0),
    ]
    rows[1] |= {"split_line_item_net_split_cost": 5.4, "split_line_item_net_unused_cost": 3.6}
    report = CostReport.build(_export(tmp_path, rows, net=True).aggregate(DAY, END), fleet, "none")
    assert _lines(report) == {
        ("aws-hubs", "staging", "hub"): 5.40,
        ("aws-hubs", "", "idle"): 3.60,
        ("aws-hubs", "", "cluster-unattributed"): 0.00,
        ("aws-hubs", "", "project-untagged"): -1.00,
    }
    assert report.export_totals()["net_cost"] == 8.00


def test_billing_period_folders_outside_the_period_are_not_read(tmp_path):
    assert period_overlaps("x/BILLING_PERIOD=2026-10/a.parquet", DAY, END)
    assert not period_overlaps("x/BILLING_PERIOD=2026-09/a.parquet", DAY, END)
    assert period_overlaps("x/a.parquet", DAY, END)
    folder = tmp_path / "cur" / "e" / "data"
    write_cur(folder / "BILLING_PERIOD=2026-10/e-00001.snappy.parquet", [cur_row(1.0)])
    write_cur(folder / "BILLING_PERIOD=2026-09/e-00001.snappy.parquet", [cur_row(5.0, day=dt.date(2026, 9, 30))])
    export = CurExport(str(tmp_path / "cur"))
    assert [p.split("BILLING_PERIOD=")[1][:7] for p in export.files(DAY, END)] == ["2026-10"]
    assert export.aggregate(DAY, END).net_nanos == 10**9


def test_mixed_currencies_and_missing_columns_are_refused(tmp_path):
    export = _export(tmp_path, [cur_row(1.0), cur_row(2.0, currency="EUR")])
    with pytest.raises(MixedCurrencyError, match="EUR, USD"):
        export.aggregate(DAY, END)
    import pyarrow as pa
    import pyarrow.parquet as pq

    bad = tmp_path / "bad" / "x.parquet"
    bad.parent.mkdir()
    pq.write_table(pa.table({"line_item_unblended_cost": [1.0]}), bad)
    with pytest.raises(BillingExportError, match=r"x\.parquet: column\(s\) line_item_usage_start_date.*CUR 2\.0"):
        CurExport(str(bad.parent)).aggregate(DAY, END)


@pytest.mark.parametrize("net", [False, True])
def test_generated_month_against_duckdb(tmp_path, fleet, net):
    """A generated export: each hub's direct cost, the idle line and the total, each computed by
    DuckDB SQL over the Parquet files (no hub_ops code), equal the report's."""
    import duckdb

    from hub_ops_dev.sample_cur import CurGenerator, write_export

    start = dt.date(2026, 10, 1)
    write_export(CurGenerator(fleet, seed=3, net=net).days(start, 3, 400), str(tmp_path / "cur"))
    report = CostReport.build(
        CurExport(str(tmp_path / "cur")).aggregate(start, start + dt.timedelta(days=3)), fleet, "none"
    )
    amount, split, unused = (
        ("line_item_net_unblended_cost", "split_line_item_net_split_cost", "split_line_item_net_unused_cost")
        if net
        else ("line_item_unblended_cost", "split_line_item_split_cost", "split_line_item_unused_cost")
    )
    files = f"read_parquet('{tmp_path}/cur/**/*.parquet')"
    pods = f"""line_item_operation = 'EKSPod-EC2' AND line_item_usage_account_id = '{ACCOUNT}' AND
        coalesce(resource_tags['aws_eks_cluster_name'], regexp_extract(line_item_resource_id, ':pod/([^/]+)/', 1)) = '{EKS}'"""
    namespace = (
        "coalesce(resource_tags['aws_eks_namespace'], regexp_extract(line_item_resource_id, ':pod/[^/]+/([^/]+)/', 1))"
    )
    sql = f"""
      SELECT hub, round(sum(amount), 2) FROM (
        SELECT CASE {namespace} WHEN 'science-hub' THEN 'science' ELSE {namespace} END AS hub, {split} AS amount
        FROM {files} WHERE {pods}
        UNION ALL
        SELECT resource_tags['user_2i2c_hub_name'], {amount} FROM {files}
        WHERE line_item_operation <> 'EKSPod-EC2' AND resource_tags['user_2i2c_hub_name'] IS NOT NULL
          AND line_item_usage_account_id = '{ACCOUNT}'
      ) WHERE hub IN ('staging', 'science') GROUP BY hub ORDER BY hub"""
    expected_hubs = dict(duckdb.sql(sql).fetchall())
    idle = duckdb.sql(f"SELECT round(sum({unused}), 2) FROM {files} WHERE {pods}").fetchall()[0][0]
    total = duckdb.sql(f"SELECT round(sum({amount}), 2) FROM {files}").fetchall()[0][0]

    table = report.table("month")
    hubs = table[(table["line"] == "hub") & (table["cluster"] == "aws-hubs")].groupby("hub")["net_cost"].sum()
    assert hubs.round(2).to_dict() == pytest.approx(expected_hubs, abs=0.011)
    assert table[table["line"] == "idle"]["net_cost"].sum() == pytest.approx(idle, abs=0.011)
    assert round(table["net_cost"].sum(), 2) == pytest.approx(total, abs=0.006)
    assert {"unknown-namespace", "unknown-cluster", "unknown-project"} <= set(table["line"])


def test_null_tag_map_and_null_tag_value(tmp_path, fleet):
    """A row whose resource_tags is null counts as untagged; a pod's null namespace tag falls
    back to its pod ARN: node 5.00, staging pod 2.00 + 1.00, untagged NAT 0.60."""
    staging_pod = pod("staging", 2.00, 1.00)
    staging_pod["resource_tags"] = [("aws_eks_cluster_name", EKS), ("aws_eks_namespace", None)]
    rows = [cur_row(5.00, tags=EKSCTL, resource="i-0abc"), staging_pod, cur_row(0.60, operation="NatGateway")]
    rows[-1]["resource_tags"] = None
    report = CostReport.build(_export(tmp_path, rows).aggregate(DAY, END), fleet, "none")
    assert _lines(report) == {
        ("aws-hubs", "staging", "hub"): 2.00,
        ("aws-hubs", "", "idle"): 1.00,
        ("aws-hubs", "", "cluster-unattributed"): 2.00,
        ("aws-hubs", "", "project-untagged"): 0.60,
    }


@pytest.mark.parametrize("size", [3, 2**20])  # 2**20: five keys no longer pack into one int64
def test_grouping_by_packed_and_separate_key_codes(size):
    import numpy as np

    from hub_ops.costs.cur import _group

    rng = np.random.default_rng(7)
    keys = {k: rng.integers(-1, 3, 500) for k in "abcde"}
    amounts = rng.integers(-(10**12), 10**12, 500)
    expected: dict[tuple, list[int]] = {}
    for i in range(500):
        sums = expected.setdefault(tuple(int(keys[k][i]) for k in keys), [0, 0])
        sums[0] += int(amounts[i])
        sums[1] += 1
    codes, summed = _group(keys, [size] * 5, {"amount": amounts})
    got = {
        tuple(int(codes[k][g]) for k in keys): [summed["amount"][g].as_py(), summed["rows"][g].as_py()]
        for g in range(summed.num_rows)
    }
    assert got == expected


def test_unreadable_rows_name_the_file_and_row_group(tmp_path):
    """A reduction error raised in a reducer thread reaches the caller as a BillingExportError
    that says where (file and row group) and what."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = pa.Table.from_pylist([cur_row(1.0)] * 3, schema=pa.schema(list(CUR_SCHEMA)))
    bad = good.set_column(good.schema.get_field_index(TIME), TIME, pa.array([1, 2, 3], pa.int64()))
    folder = tmp_path / "cur" / "e" / "data" / "BILLING_PERIOD=2026-10"
    folder.mkdir(parents=True)
    pq.write_table(pa.concat_tables([good, good.cast(good.schema)]), folder / "a.parquet", row_group_size=3)
    pq.write_table(bad, folder / "b.parquet")
    with pytest.raises(BillingExportError, match=r"b\.parquet \(row group 0\): cannot read the CUR rows: .*int64"):
        CurExport(str(tmp_path / "cur")).aggregate(DAY, END)
