"""The clusters benchmark observes what it claims: every generated cluster answered."""

from pathlib import Path

from google.oauth2.credentials import Credentials

from benchmarks.clusters import observe_all, serve_fleet
from benchmarks.plan import generate_fleet
from hub_ops.clients.gke import GkeClient
from hub_ops.fleet import load_fleet
from hub_ops_tests.gke_recorded import RecordedGkeApi


def test_generated_gcp_fleet_is_observed_in_parallel(tmp_path: Path):
    generate_fleet(tmp_path, clusters=4, hubs_per_cluster=1)
    fleet = load_fleet(tmp_path, check_files=False)
    api = RecordedGkeApi(latency_s=0.2).start()
    try:
        serve_fleet(fleet, api)
        gke = GkeClient(Credentials(token="t"), api_endpoint=api.endpoint)
        elapsed = observe_all(fleet, gke, parallel=4)  # raises if any cluster was not reachable
        assert len(api.requests) == 4 * 3
        assert elapsed < 4 * 3 * 0.2  # concurrent: less than the sum of the round trips
    finally:
        api.stop()
