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
import math
import urllib.parse
from decimal import Decimal

import pyarrow as pa
import pytest

from hub_ops.clients import billing
from hub_ops.clients.billing import (
    _PARTITIONS,
    GROUPS_SQL,
    NET_SQL,
    TOTALS_SQL,
    BigQueryExport,
    billing_source,
    export_table_name,
)
from hub_ops.clients.storage import Storage
from hub_ops.costs import BillingExportError, CostReport
from hub_ops.costs.crosscheck import compare_month
from hub_ops.costs.exports import export_month
from hub_ops.costs.readers import ExportFiles
from hub_ops.costs.report import read_report
from hub_ops.costs.schema import CLUSTER_LABEL, NAMESPACE_LABEL
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet
from hub_ops_tests.clients.recorded_bigquery import ExportTableInDuckDB, RecordedBigQuery, Result, client_for
from hub_ops_tests.conftest import EXAMPLE_FLEET
from hub_ops_tests.costs.builders import row
from hub_ops_tests.costs.builders import table as builders_table

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


# ------------------------------------------------------------------ the SQL, executed in DuckDB


def _edge_rows() -> list[dict]:
    """Rows a person can reason about, beside the generated ones."""
    last = END - dt.timedelta(days=1)
    return [
        row("pangeo-hubs", 1.25, (-0.5, -0.25), cluster="pangeo-hubs", namespace="prod", day=START),
        row("pangeo-hubs", 0.75, cluster="pangeo-hubs", day=START, hour=3),  # cluster, no namespace
        row("elsewhere", 2.0, (-2.0,), day=START, hour=5),  # no labels at all
        row("pangeo-hubs", -0.4, day=last, hour=23),  # a correction (negative cost), the last hour
        row("pangeo-hubs", 9.0, day=START - dt.timedelta(days=1), hour=23),  # the day before: not read
        row("pangeo-hubs", 7.0, day=END),  # the end is exclusive: not read
        {
            **row("pangeo-hubs", 0.3, (-0.1,), namespace="prod", day=last),
            "export_time": dt.datetime(2026, 10, 20, 4, tzinfo=dt.UTC),
        },
        {
            **row("pangeo-hubs", 0.5, day=START, hour=7),
            "credits": [{"name": "c", "amount": None, "full_name": None, "id": "C", "type": "PROMOTION"}],
        },
    ]


@pytest.fixture(scope="module")
def export_rows():
    generated = pa.concat_tables(ExportGenerator(load_fleet(EXAMPLE_FLEET), seed=4).days(START, 3, 150))
    return pa.concat_tables([generated, builders_table(_edge_rows())])


def _half_away(value: float) -> int:
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _expected(rows: pa.Table) -> tuple[dict, dict, dict]:
    """Groups, totals and NUMERIC net of [START, END) by plain Python over the rows."""
    groups, totals, net = {}, {}, {}
    low, high = (dt.datetime.combine(d, dt.time(), dt.UTC) for d in (START, END))
    for r in rows.to_pylist():
        if not low <= r["usage_start_time"] < high:
            continue
        labels = {pair["key"]: pair["value"] for pair in reversed(r["labels"])}
        amounts = [c["amount"] for c in r["credits"] if c["amount"] is not None]
        cost, credits = _half_away(r["cost"] * 1e9), sum(_half_away(a * 1e9) for a in amounts)
        day = r["usage_start_time"].date()
        key = (day, r["project"]["id"], labels.get(CLUSTER_LABEL), labels.get(NAMESPACE_LABEL), r["currency"])
        for table, k in ((groups, key), (totals, (day, r["currency"]))):
            c, k_, n = table.get(k, (0, 0, 0))
            table[k] = (c + cost, k_ + credits, n + 1)
        exact = Decimal(repr(r["cost"])) + sum((Decimal(repr(a)) for a in amounts), Decimal(0))
        net[(day, r["currency"])] = net.get((day, r["currency"]), Decimal(0)) + exact
    return groups, totals, net


def _parameters(prune: bool = True) -> dict:
    return {"start": dt.datetime.combine(START, dt.time(), dt.UTC), "end": dt.datetime.combine(END, dt.time(), dt.UTC)}


def _sql(template: str, prune: bool = True) -> str:
    return template.format(table=TABLE, partitions=_PARTITIONS if prune else "")


@pytest.mark.parametrize("prune", [True, False], ids=["partitions pruned", "no pruning"])
def test_the_bigquery_sql_executed_in_duckdb_gives_the_rows_sums(export_rows, prune):
    duck = ExportTableInDuckDB(TABLE, export_rows)
    groups, totals, net = _expected(export_rows)
    assert len(groups) > 30 and (START, "elsewhere", None, None, "USD") in groups

    got = duck.run(_sql(GROUPS_SQL, prune), _parameters()).to_pylist()
    assert {
        tuple(r[k] for k in ("day", "project", "cluster", "namespace", "currency")): (
            r["cost_nanos"],
            r["credits_nanos"],
            r["row_count"],
        )
        for r in got
    } == groups
    assert len(got) == len(groups)  # no group twice
    got = duck.run(_sql(TOTALS_SQL, prune), _parameters()).to_pylist()
    assert {(r["day"], r["currency"]): (r["cost_nanos"], r["credits_nanos"], r["row_count"]) for r in got} == totals
    got = duck.run(_sql(NET_SQL, prune), _parameters()).to_pylist()
    assert {(r["day"], r["currency"]): r["net"] for r in got} == net
    assert {(r["day"], r["currency"]): r["row_count"] for r in got} == {k: v[2] for k, v in totals.items()}


def test_the_executed_sql_and_the_file_reader_agree(export_rows, tmp_path):
    """The same rows through BigQueryExport (its real client, the HTTP stand-in answering with
    the SQL executed in DuckDB) and through the file reader: equal usage, equal reports."""
    path = str(tmp_path / "e.parquet")
    write_parquet([export_rows], path)
    files = ExportFiles(path).aggregate(START, END)
    duck = ExportTableInDuckDB(TABLE, export_rows)
    adapter = RecordedBigQuery(execute=duck.answer, page_size=7)
    source = BigQueryExport(TABLE, location="US", client_factory=lambda: client_for(adapter))
    usage = source.aggregate(START, END)
    assert usage.groups.equals(files.groups) and usage.totals.equals(files.totals)
    groups, totals, net = _expected(export_rows)
    assert {(r.day, r.currency): (r.cost_nanos, r.credits_nanos, r.rows) for r in usage.totals.itertuples()} == totals

    independent = source.independent_net(START, END)
    assert independent.net_by_day == {day.isoformat(): amount for (day, _), amount in net.items()}
    assert independent.currencies == {"USD"}
    assert independent.net_by_day == ExportFiles(path).independent_net(START, END).net_by_day


def test_a_bigquery_reading_error_fails_the_reconciliation(export_rows, tmp_path, monkeypatch):
    """Credits dropped where the report's query results are read: the month's files no longer
    match the separate NUMERIC SUM query, which is read another way."""
    duck = ExportTableInDuckDB(TABLE, export_rows)
    source = BigQueryExport(TABLE, client_factory=lambda: client_for(RecordedBigQuery(execute=duck.answer)))
    fleet, storage = load_fleet(EXAMPLE_FLEET), Storage()

    def check():
        report = CostReport.build(source.aggregate(START, END), fleet)
        month = export_month(report, storage, str(tmp_path))
        read_back = {fmt: read_report(storage, month.files[fmt])[0] for fmt in ("csv", "parquet")}
        return compare_month("2026-10", read_back, source.independent_net(START, END), report.currency)

    assert check().ok
    as_groups = billing._as_groups

    def without_credits(batch, keys):
        groups = as_groups(batch, keys)
        return groups.set_column(
            groups.schema.get_field_index("credits_nanos"), "credits_nanos", pa.array([0] * groups.num_rows, pa.int64())
        )

    monkeypatch.setattr(billing, "_as_groups", without_credits)
    failed = check()
    exact_credits = _expected(export_rows)[2]
    assert not failed.ok and failed.failed[0].difference > Decimal("1")
    assert failed.net.total == sum(exact_credits.values())
