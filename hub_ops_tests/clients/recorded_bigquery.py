"""A stand-in for the BigQuery REST API at the HTTP layer (no BigQuery runs here).

`RecordedBigQuery` is a requests transport adapter: the official google-cloud-bigquery client
builds and sends its real HTTP requests through a real requests.Session, and the adapter
answers with JSON shaped as the BigQuery v2 REST API returns it (jobs.insert -> a Job resource
in state RUNNING; jobs.getQueryResults -> bigquery#getQueryResultsResponse with schema,
jobComplete, totalRows as a string, rows as {"f": [{"v": ...}]} with INT64 as strings and
NULL as null, pageToken while more pages remain; jobs.get -> the Job DONE; tabledata.list ->
bigquery#tableDataList; errors as {"error": {"code", "message", "errors": [...], "status"}}).
Shapes follow the v2 reference (GetQueryResultsResponse, Job, TableDataList, ErrorProto) and
responses recorded from the API. Every request is kept for assertions.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from dataclasses import dataclass, field

import requests
from requests.adapters import BaseAdapter

PROJECT = "pangeo-hubs"
LOCATION = "US"


@dataclass
class Result:
    schema: list[dict]  # [{"name", "type", "mode"}]
    rows: list[list]  # python values; None -> null, ints -> strings (as the API sends INT64)


@dataclass
class RecordedBigQuery(BaseAdapter):
    answer: callable = None  # query text -> Result
    execute: callable = None  # (query text, {parameter: python value}) -> Result; preferred when set
    page_size: int = 3  # rows per page the "server" returns, to exercise paging
    error: dict | None = None  # when set, jobs.insert answers this error (status, body)
    requests: list[requests.PreparedRequest] = field(default_factory=list)
    _jobs: dict = field(default_factory=dict)

    def __post_init__(self):
        super().__init__()

    # requests' adapter interface
    def send(self, request, **kwargs):
        self.requests.append(request)
        url = urllib.parse.urlparse(request.url)
        query = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.split("/")
        if request.method == "POST" and parts[-1] == "jobs":
            if self.error:
                return self._respond(request, self.error["status"], self.error["body"])
            return self._respond(request, 200, self._insert(json.loads(request.body)))
        if request.method == "GET" and parts[-2] == "queries":
            return self._respond(request, 200, self._results(parts[-1], query))
        if request.method == "GET" and parts[-2] == "jobs":
            return self._respond(request, 200, self._job(parts[-1], "DONE"))
        if request.method == "GET" and parts[-1] == "data":
            job_id = next(j for j, job in self._jobs.items() if job["table"] == parts[-2])
            body = self._results(job_id, query)
            return self._respond(
                request,
                200,
                {
                    "kind": "bigquery#tableDataList",
                    "etag": body["etag"],
                    "totalRows": body["totalRows"],
                    **{k: body[k] for k in ("rows", "pageToken") if k in body},
                },
            )
        return self._respond(
            request,
            404,
            {
                "error": {
                    "code": 404,
                    "message": f"unexpected {request.method} {url.path}",
                    "errors": [{"message": "not found", "domain": "global", "reason": "notFound"}],
                    "status": "NOT_FOUND",
                }
            },
        )

    def close(self):
        pass

    # the API's behaviour
    def _insert(self, body: dict) -> dict:
        job_id = body["jobReference"]["jobId"]
        config = body["configuration"]
        text = config["query"]["query"]
        parameters = {p["name"]: _parameter(p) for p in config["query"].get("queryParameters", [])}
        self._jobs[job_id] = {
            "config": config,
            "result": self.execute(text, parameters) if self.execute else self.answer(text),
            "table": f"anon{len(self._jobs):04d}",
            "project": body["jobReference"]["projectId"],
        }
        return self._job(job_id, "RUNNING")

    def _job(self, job_id: str, state: str) -> dict:
        job = self._jobs[job_id]
        config = dict(job["config"])
        config["query"] = {
            **config["query"],
            "destinationTable": {"projectId": job["project"], "datasetId": "_0f1e2d3c4b5a", "tableId": job["table"]},
            "writeDisposition": "WRITE_TRUNCATE",
            "priority": "INTERACTIVE",
        }
        resource = {
            "kind": "bigquery#job",
            "etag": "Hf8Jc1nN6Dv0d3Q2wzGq0A==",
            "id": f"{job['project']}:{LOCATION}.{job_id}",
            "selfLink": f"https://bigquery.googleapis.com/bigquery/v2/projects/{job['project']}/jobs/{job_id}?location={LOCATION}",
            "user_email": "hub-ops@pangeo-hubs.iam.gserviceaccount.com",
            "configuration": {**config, "jobType": "QUERY"},
            "jobReference": {"projectId": job["project"], "jobId": job_id, "location": LOCATION},
            "statistics": {
                "creationTime": "1764140000123",
                "startTime": "1764140000234",
                "query": {"priority": "INTERACTIVE", "statementType": "SELECT"},
            },
            "status": {"state": state},
            "principal_subject": "serviceAccount:hub-ops@pangeo-hubs.iam.gserviceaccount.com",
        }
        if state == "DONE":
            resource["statistics"].update(
                {
                    "endTime": "1764140001456",
                    "totalBytesProcessed": "734003200",
                    "query": {
                        **resource["statistics"]["query"],
                        "totalBytesProcessed": "734003200",
                        "totalBytesBilled": "734003200",
                        "cacheHit": False,
                    },
                }
            )
        return resource

    def _results(self, job_id: str, query: dict) -> dict:
        job = self._jobs[job_id]
        result: Result = job["result"]
        start = int(query.get("pageToken", "0") or 0)
        limit = int(query["maxResults"]) if "maxResults" in query else self.page_size
        limit = min(limit, self.page_size)
        rows = result.rows[start : start + limit]
        body = {
            "kind": "bigquery#getQueryResultsResponse",
            "etag": "5Jl6o9ZV0Qx6f0Wn1b2mJw==",
            "schema": {"fields": result.schema},
            "jobReference": {"projectId": job["project"], "jobId": job_id, "location": LOCATION},
            "totalRows": str(len(result.rows)),
            "totalBytesProcessed": "734003200",
            "jobComplete": True,
            "cacheHit": False,
        }
        if limit:
            body["rows"] = [{"f": [{"v": None if v is None else str(v)} for v in row]} for row in rows]
        if start + limit < len(result.rows) and limit:
            body["pageToken"] = str(start + limit)
        return body

    @staticmethod
    def _respond(request, status: int, body: dict) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json; charset=UTF-8"
        response.url = request.url
        response.request = request
        response.reason = {200: "OK", 404: "Not Found", 403: "Forbidden"}.get(status, "")
        return response


def _parameter(parameter: dict):
    """A query parameter as the client sent it -> the Python value (TIMESTAMP only, what hub_ops sends)."""
    kind, value = parameter["parameterType"]["type"], parameter["parameterValue"]["value"]
    if kind != "TIMESTAMP":
        raise ValueError(f"parameter {parameter['name']}: type {kind} not handled by the stand-in")
    return dt.datetime.fromisoformat(value)


def client_for(adapter: RecordedBigQuery, project: str = PROJECT):
    """The official client on its usual session class (AuthorizedSession), whose HTTPS
    requests go through `adapter` instead of the network."""
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession
    from google.cloud import bigquery

    session = AuthorizedSession(AnonymousCredentials())
    session.mount("https://", adapter)
    return bigquery.Client(project=project, credentials=AnonymousCredentials(), _http=session)


# ------------------------------------------------------------------ the SQL itself, executed


class ExportTableInDuckDB:
    """hub_ops's BigQuery SQL executed for real: transpiled by sqlglot (bigquery -> duckdb) and
    run in DuckDB on a table of export rows shaped as BigQuery holds them.

    Table shape: `project.dataset.table` as a DuckDB catalog, schema and table; RECORD columns
    as STRUCT, REPEATED RECORD (labels, credits) as LIST of STRUCT, TIMESTAMP as TIMESTAMPTZ in a
    session whose time zone is UTC (BigQuery's DATE(timestamp) is the UTC day), and the
    ingestion-time pseudo-column _PARTITIONTIME as a real column (the UTC day of export_time).
    One thing sqlglot does not carry over and that is fixed here, in the transpiled AST only:
    BigQuery's NUMERIC is DECIMAL(38, 9), while a bare DECIMAL in DuckDB is DECIMAL(18, 3).
    Nothing else of the product's SQL is rewritten.
    """

    def __init__(self, table: str, rows):
        import duckdb
        import pyarrow as pa
        import pyarrow.compute as pc

        self.table = table
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        catalog, schema, name = table.split(".")
        self.con.execute(f"ATTACH ':memory:' AS \"{catalog}\"")
        self.con.execute(f'CREATE SCHEMA "{catalog}"."{schema}"')
        partition = pc.floor_temporal(rows["export_time"], unit="day")
        shaped = rows.append_column(pa.field("_PARTITIONTIME", partition.type), partition)
        self.con.register("export_rows", shaped)
        self.con.execute(f'CREATE TABLE "{catalog}"."{schema}"."{name}" AS SELECT * FROM export_rows')
        self.con.unregister("export_rows")

    def transpile(self, sql: str) -> str:
        import sqlglot
        from sqlglot import exp

        tree = sqlglot.parse_one(sql, read="bigquery")
        for node in list(tree.find_all(exp.DataType)):
            if node.this == exp.DataType.Type.DECIMAL and not node.expressions:
                node.replace(exp.DataType.build("DECIMAL(38, 9)", dialect="duckdb"))
        return tree.sql(dialect="duckdb")

    def run(self, sql: str, parameters: dict):
        """The query's result as an Arrow table."""
        return self.con.sql(self.transpile(sql), params=parameters).to_arrow_table()

    def answer(self, sql: str, parameters: dict) -> Result:
        """RecordedBigQuery.execute: the result as the REST API would send it."""
        import pyarrow as pa

        result = self.run(sql, parameters)
        schema = []
        for column in result.schema:
            if pa.types.is_date(column.type):
                kind = "DATE"
            elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                kind = "STRING"
            elif pa.types.is_integer(column.type) or (pa.types.is_decimal(column.type) and column.type.scale == 0):
                kind = "INTEGER"  # DuckDB sums BIGINT as HUGEINT; BigQuery answers INT64
            elif pa.types.is_decimal(column.type):
                kind = "NUMERIC"
            else:
                raise ValueError(f"column {column.name}: {column.type} not mapped to a BigQuery type")
            schema.append({"name": column.name, "type": kind, "mode": "NULLABLE"})
        rows = [[v.isoformat() if isinstance(v, dt.date) else v for v in row.values()] for row in result.to_pylist()]
        return Result(schema, rows)
