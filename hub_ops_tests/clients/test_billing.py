"""The BigQuery reader against the official google-cloud-bigquery client.

No BigQuery runs here: the client is fed recorded real response shapes at its HTTP layer
(hub_ops_tests/clients/recorded_bigquery.py: a requests transport adapter answering
jobs.insert, jobs.get and jobs.getQueryResults with JSON shaped as the BigQuery v2 API returns
it, paging with pageToken). The rows it answers are the ones the file reader computes from a
generated export, so the two paths must agree exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse

import pytest

from hub_ops.clients.billing import BigQueryExport, billing_source, export_table_name
from hub_ops.costs import BillingExportError, CostReport
from hub_ops.costs.readers import ExportFiles
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet
from hub_ops_tests.clients.recorded_bigquery import RecordedBigQuery, Result, client_for
from hub_ops_tests.conftest import EXAMPLE_FLEET

TABLE = "pangeo-hubs.cloud_costs.gcp_billing_export_resource_v1_01ABCD_234567_89EFAB"
START, END = dt.date(2026, 10, 1), dt.date(2026, 10, 4)


def field(name: str, type_: str) -> dict:
    return {"name": name, "type": type_, "mode": "NULLABLE"}


@pytest.fixture(scope="module")
def file_usage(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bq") / "e.parquet")
    write_parquet(ExportGenerator(load_fleet(EXAMPLE_FLEET), seed=9).days(START, 3, 400), path)
    return ExportFiles(path).aggregate(START, END)


def answer_from(usage):
    def answer(sql: str) -> Result:
        if "k8s-namespace" in sql:
            return Result(
                [
                    field("day", "DATE"),
                    field("project", "STRING"),
                    field("cluster", "STRING"),
                    field("namespace", "STRING"),
                    field("currency", "STRING"),
                    field("cost_nanos", "INTEGER"),
                    field("credits_nanos", "INTEGER"),
                    field("row_count", "INTEGER"),
                ],
                [
                    [
                        r.day.isoformat(),
                        r.project,
                        r.cluster or None,
                        r.namespace or None,
                        r.currency,
                        r.cost_nanos,
                        r.credits_nanos,
                        r.rows,
                    ]
                    for r in usage.groups.itertuples()
                ],
            )
        return Result(
            [
                field("day", "DATE"),
                field("currency", "STRING"),
                field("cost_nanos", "INTEGER"),
                field("credits_nanos", "INTEGER"),
                field("row_count", "INTEGER"),
            ],
            [[r.day.isoformat(), r.currency, r.cost_nanos, r.credits_nanos, r.rows] for r in usage.totals.itertuples()],
        )

    return answer


def test_bigquery_gives_the_same_usage_and_report_as_the_files(file_usage):
    adapter = RecordedBigQuery(answer=answer_from(file_usage), page_size=9)
    source = BigQueryExport(TABLE, location="US", client_factory=lambda: client_for(adapter))
    usage = source.aggregate(START, END)
    assert usage.groups.equals(file_usage.groups)
    assert usage.totals.equals(file_usage.totals)
    fleet = load_fleet(EXAMPLE_FLEET)
    assert CostReport.build(usage, fleet).table().equals(CostReport.build(file_usage, fleet).table())

    inserts = [r for r in adapter.requests if r.method == "POST"]
    assert len(inserts) == 2  # one grouped query, one totals query, for the whole period
    pages = [r for r in adapter.requests if "/queries/" in r.url]
    assert len(pages) >= len(file_usage.groups) // 9  # results streamed page by page
    body = json.loads(inserts[0].body)
    query = body["configuration"]["query"]
    assert f"FROM `{TABLE}`" in query["query"] and "UNNEST(credits)" in query["query"]
    assert query["useLegacySql"] is False
    params = {p["name"]: p["parameterValue"]["value"] for p in query["queryParameters"]}
    assert params == {"start": "2026-10-01 00:00:00+00:00", "end": "2026-10-04 00:00:00+00:00"}
    assert body["jobReference"]["location"] == "US" and body["configuration"]["labels"] == {"hub_ops": "cost-report"}
    assert urllib.parse.urlparse(inserts[0].url).path == "/bigquery/v2/projects/pangeo-hubs/jobs"


def test_an_api_error_names_the_table():
    adapter = RecordedBigQuery(
        answer=None,
        error={
            "status": 404,
            "body": {
                "error": {
                    "code": 404,
                    "message": f"Not found: Table {TABLE.replace('.', ':', 1)} was not found in location US",
                    "errors": [{"message": "Not found: Table", "domain": "global", "reason": "notFound"}],
                    "status": "NOT_FOUND",
                }
            },
        },
    )
    source = BigQueryExport(TABLE, client_factory=lambda: client_for(adapter))
    with pytest.raises(BillingExportError, match=rf"bigquery://{TABLE}: query failed: .*was not found"):
        source.aggregate(START, END)


def test_table_names_are_checked_before_any_query():
    with pytest.raises(BillingExportError, match="not a table name"):
        BigQueryExport("pangeo-hubs.cloud_costs.x` WHERE 1=1 --")


def test_source_from_fleet_settings(example_fleet):
    fleet_yaml = example_fleet / "fleet.yaml"
    fleet_yaml.write_text(
        fleet_yaml.read_text().replace(
            "    files: gs://example-fleet-billing/export/",
            "    bigquery: {project: pangeo-hubs, dataset: cloud_costs, billing_id: 01ABCD-234567-89EFAB}",
        )
    )
    source = billing_source(load_fleet(example_fleet), storage=None)
    assert isinstance(source, BigQueryExport) and source.table == TABLE
    assert export_table_name("p-123", "d", "my_table", None) == "p-123.d.my_table"
    with pytest.raises(BillingExportError, match="give `table` or `billing_id`"):
        export_table_name("p-123", "d", None, None)
