"""A loopback HTTP server that answers the GKE v1 REST calls hub_ops makes with recorded
response shapes (hub_ops_tests/data/gke/, see its README). Not GKE: no GKE runs here, so
the real ClusterManagerClient (REST transport) is pointed at this instead.

Unknown clusters get GKE's 404 error body; every request is recorded (method, path and
whether it carried a bearer token) so tests can assert what the client asked. Like the
real API, enums are sent as numbers when the request asks `enum-encoding=int`.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from google.cloud import container_v1
from google.protobuf.descriptor import Descriptor, FieldDescriptor

DATA = Path(__file__).parent / "data" / "gke"
_PATH = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/clusters/(?P<cluster>[^/:?]+)"
    r"(?P<rest>/nodePools|:fetchClusterUpgradeInfo)?$"
)


MESSAGES = {
    "cluster": container_v1.Cluster,
    "nodePools": container_v1.ListNodePoolsResponse,
    "upgradeInfo": container_v1.ClusterUpgradeInfo,
}


def enums_as_numbers(body, descriptor: Descriptor):
    """`body` with enum names replaced by their numbers, as the API answers a request made
    with `$alt=json;enum-encoding=int` (the REST transport always asks that way)."""
    fields = {f.json_name: f for f in descriptor.fields}
    out = {}
    for key, value in body.items():
        f = fields.get(key)
        if f is None:
            out[key] = value  # a field newer than this client: left as the API sends it
        elif f.type == FieldDescriptor.TYPE_ENUM:
            number = lambda name: f.enum_type.values_by_name[name].number  # noqa: E731
            out[key] = [number(v) for v in value] if isinstance(value, list) else number(value)
        elif (
            f.type == FieldDescriptor.TYPE_MESSAGE
            and not f.message_type.GetOptions().map_entry
            and not f.message_type.full_name.startswith("google.protobuf.")
        ):  # Timestamp etc. are strings in JSON
            convert = lambda v: enums_as_numbers(v, f.message_type)  # noqa: E731
            out[key] = [convert(v) for v in value] if isinstance(value, list) else convert(value)
        else:
            out[key] = value
    return out


def recorded(fleet_cluster: str, kind: str) -> dict:
    """A recorded body: kind is "cluster", "nodePools" or "upgradeInfo"."""
    return json.loads((DATA / f"{fleet_cluster}.{kind}.json").read_text())


@dataclass
class RecordedGkeApi:
    clusters: dict[tuple[str, str, str], dict[str, dict]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    latency_s: float = 0.0  # added before each answer (benchmarks: a round trip to the real API)

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, project: str, location: str, cluster: str, bodies: dict[str, dict | None]) -> None:
        """Serve `bodies` ("cluster", "nodePools", "upgradeInfo"; None = answer 403) for one cluster."""
        self.clusters[(project, location, cluster)] = copy.deepcopy(bodies)

    def add_recorded(self, fleet_cluster: str, project: str, location: str, cluster: str) -> dict[str, dict]:
        bodies = {kind: recorded(fleet_cluster, kind) for kind in ("cluster", "nodePools", "upgradeInfo")}
        self.add(project, location, cluster, bodies)
        return self.clusters[(project, location, cluster)]

    def start(self) -> RecordedGkeApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet test output
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if api.latency_s:
                    time.sleep(api.latency_s)
                path, _, query = self.path.partition("?")
                auth = self.headers.get("Authorization", "")
                api.requests.append(
                    {
                        "method": "GET",
                        "path": path,
                        "bearer": auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None,
                    }
                )
                match = _PATH.match(path)
                name = path.removeprefix("/v1/").split(":")[0].removesuffix("/nodePools")
                bodies = api.clusters.get((match["project"], match["location"], match["cluster"])) if match else None
                if bodies is None:
                    # GKE's error body for a cluster that does not exist
                    return self._send(
                        404, {"error": {"code": 404, "message": f"Not found: {name}.", "status": "NOT_FOUND"}}
                    )
                kind = {"/nodePools": "nodePools", ":fetchClusterUpgradeInfo": "upgradeInfo", None: "cluster"}[
                    match["rest"]
                ]
                body = bodies.get(kind)
                if body is None:
                    return self._send(
                        403,
                        {
                            "error": {
                                "code": 403,
                                "message": f"Permission 'container.clusters.get' denied on '{name}'",
                                "status": "PERMISSION_DENIED",
                            }
                        },
                    )
                if "enum-encoding%3Dint" in query or "enum-encoding=int" in query:
                    body = enums_as_numbers(body, MESSAGES[kind].pb().DESCRIPTOR)
                api.requests[-1]["enums"] = "int" if "enum-encoding" in query else "name"
                return self._send(200, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True, name="recorded-gke-api").start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def gke_api() -> Iterator[RecordedGkeApi]:
    """A RecordedGkeApi serving the example fleet's two gcp clusters from recorded shapes."""
    api = RecordedGkeApi().start()
    api.add_recorded("pangeo-hubs", "pangeo-hubs", "us-central1-b", "pangeo-hubs-cluster")
    api.add_recorded("community-hubs", "community-hubs-2024", "us-west1", "community-cluster")
    yield api
    api.stop()
