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
        self._jobs[job_id] = {
            "config": config,
            "result": self.answer(config["query"]["query"]),
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


def client_for(adapter: RecordedBigQuery, project: str = PROJECT):
    """The official client on its usual session class (AuthorizedSession), whose HTTPS
    requests go through `adapter` instead of the network."""
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession
    from google.cloud import bigquery

    session = AuthorizedSession(AnonymousCredentials())
    session.mount("https://", adapter)
    return bigquery.Client(project=project, credentials=AnonymousCredentials(), _http=session)
