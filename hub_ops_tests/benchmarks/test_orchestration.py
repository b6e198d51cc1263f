"""The orchestration benchmark measures what it claims, at a tiny size: every hub gets its
nightly run request and a push to the second chart deploys exactly the clusters using it.
(Its code-server, queue and browser parts start `dagster api grpc` and `dagster dev`: too
slow for a unit test; the browser tests cover `dagster dev` in Chromium.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from benchmarks.orchestration import (
    build_fleet,
    deploy_tick,
    environment,
    fleet_env,
    fresh_instance,
    git,
    nightly_tick,
    push_chart_change,
)

CLUSTERS, HUBS_PER_CLUSTER = 4, 3


@pytest.mark.parametrize("storage", ["sqlite", "postgres"])
def test_ticks_request_a_run_per_hub_and_per_changed_cluster(tmp_path: Path, storage, postgres_server):
    root = build_fleet(tmp_path / "fleet", CLUSTERS, CLUSTERS * HUBS_PER_CLUSTER)
    hub_keys = [f"cluster-{c:03d}.{'staging' if h == 0 else f'hub-{h:02d}'}" for c in range(CLUSTERS) for h in range(3)]
    with (
        environment(fleet_env(root, tmp_path / "data")),
        fresh_instance(storage, postgres_server, hub_keys) as instance,
    ):
        seconds, requests = nightly_tick(instance, root, dt.datetime(2026, 3, 15, 2, tzinfo=dt.UTC))
        assert requests == len(hub_keys) and seconds > 0
        before = git(root, "rev-parse", "HEAD")
        push_chart_change(root)
        seconds, requests, skip = deploy_tick(instance, root, tmp_path / "git-cache", before)
    # the odd clusters' hubs moved to the second chart (cluster-000 keeps daskhub on basehub)
    odd = [c for c in range(CLUSTERS) if c % 2]
    assert (requests, skip) == (len(odd), "")
    assert seconds > 0
