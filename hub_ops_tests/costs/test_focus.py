"""FOCUS 1.0-1.2 files (CSV with Tags as JSON text, Parquet with Tags as a map), GCP and AWS rows
in one file, attributed through Tags; figures on paper:

  Google Cloud, community-hubs-2024, cluster community-cluster, namespace ohw      8.00
  Google Cloud, community-hubs-2024, Credit, no tags                             -2.00
  AWS, 123456789012, aws:eks:cluster-name aws-hubs-cluster, namespace science-hub 5.00
  AWS, 123456789012, user:2i2c:hub-name staging (no cluster tag)                  1.50
  AWS, 123456789012, Tax, no tags                                                 0.40
  a row of the next day (outside the period)                                    100.00
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

from hub_ops.clients.storage import Storage
from hub_ops.costs import CostReport
from hub_ops.costs.sources import detect_format, export_source
from hub_ops.fleet import load_fleet
from hub_ops_tests.costs.cur_builders import ACCOUNT, DAY, EKS, fleet_with_aws

GCP, AWS = "Google Cloud", "AWS"
ROWS = [
    (GCP, "community-hubs-2024", "Usage", 8.00, {"goog-k8s-cluster-name": "community-cluster", "k8s-namespace": "ohw"}),
    (GCP, "community-hubs-2024", "Credit", -2.00, {}),
    (AWS, ACCOUNT, "Usage", 5.00, {"aws:eks:cluster-name": EKS, "aws:eks:namespace": "science-hub"}),
    (AWS, ACCOUNT, "Usage", 1.50, {"user:2i2c:hub-name": "staging"}),
    (AWS, ACCOUNT, "Tax", 0.40, {}),
]


def _table(as_map: bool) -> pa.Table:
    rows = [*ROWS, (AWS, ACCOUNT, "Usage", 100.0, {})]
    starts = [dt.datetime.combine(DAY, dt.time(5), dt.UTC)] * len(ROWS) + [
        dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(), dt.UTC)
    ]
    tags = [list(r[4].items()) for r in rows] if as_map else [json.dumps(r[4]) for r in rows]
    return pa.table(
        {
            "BilledCost": [r[3] for r in rows],
            "EffectiveCost": [r[3] * 0.9 for r in rows],  # never summed
            "BillingCurrency": ["USD"] * len(rows),
            "ChargeCategory": [r[2] for r in rows],
            "ChargePeriodStart": starts if as_map else [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in starts],
            "ProviderName": [r[0] for r in rows],
            "SubAccountId": [r[1] for r in rows],
            "Tags": pa.array(tags, pa.map_(pa.string(), pa.string())) if as_map else tags,
        }
    )


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from hub_ops_tests.conftest import EXAMPLE_FLEET

    return load_fleet(fleet_with_aws(EXAMPLE_FLEET, tmp_path_factory.mktemp("f") / "fleet"))


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_focus_rows_attributed_through_tags(tmp_path, fleet, fmt):
    path = tmp_path / f"focus.{fmt}"
    if fmt == "csv":
        pv.write_csv(_table(False), path)
    else:
        pq.write_table(_table(True), path)
    assert detect_format(str(path), Storage()) == "focus"
    source = export_source(str(path), Storage())
    report = CostReport.build(source.aggregate(DAY, DAY + dt.timedelta(days=1)), fleet, "none")
    table = report.table("month")
    got = {(r.provider, r.cluster, r.hub, r.line): (r.cost, r.credits) for r in table.itertuples(index=False)}
    assert got == {
        ("gcp", "community-hubs", "ohw", "hub"): (8.00, 0.0),
        ("gcp", "community-hubs", "", "project-untagged"): (0.0, -2.00),
        ("aws", "aws-hubs", "science", "hub"): (5.00, 0.0),
        ("aws", "aws-hubs", "staging", "hub"): (1.50, 0.0),
        ("aws", "aws-hubs", "", "project-untagged"): (0.40, 0.0),
    }
    net = source.independent_net(DAY, DAY + dt.timedelta(days=1))
    assert net.total == Decimal("12.90") == Decimal(str(round(table["net_cost"].sum(), 2)))
