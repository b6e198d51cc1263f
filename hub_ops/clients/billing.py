"""BigQuery: the Cloud Billing detailed export table, read with google-cloud-bigquery.

One grouped query per period (a Dagster day or month partition): BigQuery flattens the labels
and sums the period per day, project, GKE cluster, namespace and currency, so what crosses the
network is a few hundred rows, not millions. Results are streamed page by page
(`RowIterator.to_arrow_iterable`) into the same UsageAccumulator the file readers use. A second
query sums the same rows without touching the labels: the export's own total, which the
report must reconcile to. Amounts are summed as INT64 nanos (ROUND(x * 1e9)), exactly as the
file readers do, so both paths give identical numbers. A third query (NET_SQL, run by the
reconciliation check only) sums the net in NUMERIC and is read row by row: the check's
independent total (hub_ops.costs.crosscheck).

Written so that no name depends on an engine's resolution rules (the tests execute this SQL in
DuckDB): the label look-ups name their UNNEST alias (`label.value`; BigQuery also takes bare
field names, DuckDB does not), and GROUP BY says `project.id`, because `project` is both the
select alias and the export's STRUCT column, and SQL's usual rule (PostgreSQL's, DuckDB's) reads
an ambiguous GROUP BY name as the column: grouping by the whole project record.

Queries only read (SELECT); safe to rerun. The table name is checked, the period is passed as
query parameters: nothing from config is pasted into SQL unchecked.
See hub_ops.costs.schema for Google's documentation of the export and its GKE labels.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hub_ops.costs.crosscheck import ExportNet
from hub_ops.costs.errors import BillingExportError
from hub_ops.costs.schema import CLUSTER_LABEL, NAMESPACE_LABEL
from hub_ops.costs.usage import GROUP_KEYS, SUMS, TOTAL_KEYS, Usage, UsageAccumulator, day_number

TABLE_NAME = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_$-]{1,1024}$")

_NANOS = "CAST(ROUND({x} * 1e9) AS INT64)"
_CREDITS = f"(SELECT IFNULL(SUM({_NANOS.format(x='c.amount')}), 0) FROM UNNEST(credits) AS c)"
_PERIOD = "usage_start_time >= @start AND usage_start_time < @end"
# ingestion-time partitions hold rows exported on that day, never before the usage: this only
# prunes older partitions; late rows of the period (exported days later) are still read
_PARTITIONS = " AND _PARTITIONTIME >= TIMESTAMP_SUB(@start, INTERVAL 1 DAY)"

GROUPS_SQL = f"""
SELECT
  DATE(usage_start_time) AS day,
  project.id AS project,
  (SELECT label.value FROM UNNEST(labels) AS label WHERE label.key = '{CLUSTER_LABEL}' LIMIT 1) AS cluster,
  (SELECT label.value FROM UNNEST(labels) AS label WHERE label.key = '{NAMESPACE_LABEL}' LIMIT 1) AS namespace,
  currency,
  SUM({_NANOS.format(x="cost")}) AS cost_nanos,
  SUM({_CREDITS}) AS credits_nanos,
  COUNT(*) AS row_count
FROM `{{table}}`
WHERE {_PERIOD}{{partitions}}
GROUP BY day, project.id, cluster, namespace, currency
"""

TOTALS_SQL = f"""
SELECT
  DATE(usage_start_time) AS day,
  currency,
  SUM({_NANOS.format(x="cost")}) AS cost_nanos,
  SUM({_CREDITS}) AS credits_nanos,
  COUNT(*) AS row_count
FROM `{{table}}`
WHERE {_PERIOD}{{partitions}}
GROUP BY day, currency
"""

# the reconciliation check's independent total: NUMERIC (exact decimals, each amount rounded to
# 9 places by the cast), not the INT64 nanos of the two queries above, and read row by row
NET_SQL = f"""
SELECT
  DATE(usage_start_time) AS day,
  currency,
  IFNULL(SUM(CAST(cost AS NUMERIC)), 0)
    + IFNULL(SUM((SELECT SUM(CAST(c.amount AS NUMERIC)) FROM UNNEST(credits) AS c)), 0) AS net,
  COUNT(*) AS row_count
FROM `{{table}}`
WHERE {_PERIOD}{{partitions}}
GROUP BY day, currency
"""


@dataclass(frozen=True)
class BigQueryExport:
    """The detailed export table `project.dataset.gcp_billing_export_resource_v1_<ACCOUNT>`."""

    table: str
    job_project: str | None = None  # project that runs (and pays for) the queries; default: the table's
    location: str | None = None  # the dataset's location (US or EU for billing exports)
    prune_partitions: bool = True
    page_size: int = 10_000
    client_factory: Callable[[], object] | None = None  # default: bigquery.Client with application default credentials

    def __post_init__(self) -> None:
        if not TABLE_NAME.match(self.table):
            raise BillingExportError(
                f"costs.billing.bigquery: {self.table!r} is not a table name of the form project.dataset.table"
            )

    @property
    def description(self) -> str:
        return f"bigquery://{self.table}"

    def client(self):
        if self.client_factory is not None:
            return self.client_factory()
        from google.cloud import bigquery

        return bigquery.Client(project=self.job_project or self.table.split(".")[0])

    def aggregate(self, start: dt.date, end: dt.date, progress=None) -> Usage:
        """The usage of [start, end): two queries (groups, totals), results streamed by page."""
        accumulator = UsageAccumulator(self.description, start, end)
        client = self.client()
        groups = self._query(client, GROUPS_SQL, start, end, GROUP_KEYS)
        if progress:
            progress(1, 2, self.description)
        totals = self._query(client, TOTALS_SQL, start, end, TOTAL_KEYS)
        if progress:
            progress(2, 2, self.description)
        accumulator.add_groups(groups, totals, self.description)
        return accumulator.result()

    def independent_net(self, start: dt.date, end: dt.date) -> ExportNet:
        """The reconciliation check's own re-read of [start, end): NET_SQL, rows read one by one
        as Python Decimals (not the Arrow pages the report is built from)."""
        from google.api_core import exceptions

        net = ExportNet(f"{self.description}: a separate SUM query in NUMERIC, read row by row")
        try:
            rows = self._run(self.client(), NET_SQL, start, end).result(page_size=self.page_size)
            for row in rows:
                net.add(row["day"].isoformat(), Decimal(row["net"]), int(row["row_count"]))
                if row["currency"]:
                    net.currencies.add(row["currency"])
        except exceptions.GoogleAPICallError as e:
            raise BillingExportError(f"{self.description}: query failed: {getattr(e, 'message', e)}") from None
        return net

    def _run(self, client, sql: str, start: dt.date, end: dt.date):
        from google.cloud import bigquery

        text = sql.format(table=self.table, partitions=_PARTITIONS if self.prune_partitions else "")
        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("start", "TIMESTAMP", dt.datetime.combine(start, dt.time(), dt.UTC)),
                bigquery.ScalarQueryParameter("end", "TIMESTAMP", dt.datetime.combine(end, dt.time(), dt.UTC)),
            ],
            use_legacy_sql=False,
            labels={"hub_ops": "cost-report"},
        )
        return client.query(text, job_config=config, location=self.location)

    def _query(self, client, sql: str, start: dt.date, end: dt.date, keys: list[str]) -> pa.Table:
        from google.api_core import exceptions

        try:
            job = self._run(client, sql, start, end)
            parts = [_as_groups(batch, keys) for batch in job.result(page_size=self.page_size).to_arrow_iterable()]
        except exceptions.GoogleAPICallError as e:
            raise BillingExportError(
                f"{self.description}: query failed: {e.message if hasattr(e, 'message') else e}"
            ) from None
        parts = [p for p in parts if p.num_rows]
        if not parts:
            return _as_groups(
                pa.record_batch(
                    {k: pa.array([], pa.string()) for k in keys}
                    | {
                        "cost_nanos": pa.array([], pa.int64()),
                        "credits_nanos": pa.array([], pa.int64()),
                        "row_count": pa.array([], pa.int64()),
                    }
                ),
                keys,
            )
        return pa.concat_tables(parts)


def _as_groups(batch: pa.RecordBatch, keys: list[str]) -> pa.Table:
    """A result page -> the column types of hub_ops.costs.usage (day as days since 1970)."""
    columns = {}
    for key in keys:
        column = batch.column(batch.schema.names.index(key))
        if key == "day":
            if pa.types.is_date(column.type):
                column = pa.array(
                    np.asarray(column.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)), pa.int32()
                )
            else:  # an empty page has no typed columns
                column = pa.array([day_number(dt.date.fromisoformat(v)) for v in column.to_pylist()], pa.int32())
        else:
            column = column.cast(pa.string())
        columns[key] = column
    for name, source in zip(SUMS, ("cost_nanos", "credits_nanos", "row_count")):
        columns[name] = pc.fill_null(batch.column(batch.schema.names.index(source)).cast(pa.int64()), 0)
    return pa.table(columns)


def export_table_name(project: str, dataset: str, table: str | None, billing_id: str | None) -> str:
    """BigQuery names the detailed export gcp_billing_export_resource_v1_<ACCOUNT> (dashes -> _)."""
    if table:
        return f"{project}.{dataset}.{table}"
    if not billing_id:
        raise BillingExportError("fleet.yaml costs.billing.bigquery: give `table` or `billing_id`")
    return f"{project}.{dataset}.gcp_billing_export_resource_v1_{billing_id.replace('-', '_')}"


def billing_source(
    fleet,
    storage,
    files: str | None = None,
    bigquery_table: str | None = None,
    job_project: str | None = None,
    fmt: str | None = None,
):
    """The export(s) to read: `files` (of kind `fmt`, or told by its columns) or `bigquery_table`
    when given, else every source of fleet.yaml costs.billing (one report across them)."""
    from hub_ops.costs.sources import Sources, export_source

    if files:
        return export_source(files, storage, fmt)
    if bigquery_table:
        return BigQueryExport(bigquery_table, job_project=job_project)
    billing = fleet.settings.costs.billing
    if not billing:
        raise BillingExportError(
            f"{fleet.root / 'fleet.yaml'}: costs.billing is not set; give `files: <url>` "
            "or `bigquery: {project, dataset, billing_id}` (or a list of them)"
        )
    sources = []
    for source in billing:
        if source.files:
            sources.append(export_source(source.files, storage, source.format))
        else:
            bq = source.bigquery
            table = export_table_name(bq.project, bq.dataset, bq.table, bq.billing_id)
            sources.append(BigQueryExport(table, job_project=job_project))
    return sources[0] if len(sources) == 1 else Sources(tuple(sources))
