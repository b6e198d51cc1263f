"""The orchestration benchmark measures what it claims, at a tiny size: every hub gets its
nightly run request, a push to the second chart deploys exactly the clusters using it, and
each `local` cluster answers from the stack's kube-apiserver.
(Its code-server, queue and browser parts start `dagster api grpc` and `dagster dev`: too
slow for a unit test; the browser tests cover `dagster dev` in Chromium.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from benchmarks.orchestration import (
    build_fleet,
    deploy_tick,
    environment,
    fleet_env,
    fresh_instance,
    git,
    materialize_clusters,
    nightly_tick,
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
        seconds, requests, skip = deploy_tick(instance, root, tmp_path / "git-cache")  # pushes to SCI_CHART
        assert git(root, "rev-parse", "HEAD~1") == before
    # the odd clusters' hubs moved to the second chart (cluster-000 keeps daskhub on basehub)
    odd = [c for c in range(CLUSTERS) if c % 2]
    assert (requests, skip) == (len(odd), "")
    assert seconds > 0


def test_clusters_materialize_from_the_local_api_server(tmp_path: Path, kube_cluster):
    root = build_fleet(tmp_path / "fleet", 2, 2, kube_cluster.kubeconfig)
    doc = yaml.safe_load((root / "clusters" / "cluster-001" / "cluster.yaml").read_text())
    assert doc["provider"] == "local" and doc["local"] == {"kubeconfig": str(kube_cluster.kubeconfig)}
    with environment(fleet_env(root, tmp_path / "data")), fresh_instance("sqlite") as instance:
        seconds, reachable = materialize_clusters(instance, root)
    assert reachable == 2 and seconds > 0
