"""The benchmark measures a valid fleet (a broken one would time the error path)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.plan import generate_fleet
from hub_ops.fleet import validate_fleet
from hub_ops.fleet.planner import plan_changes


def test_generated_fleet_is_valid_and_plans_like_the_real_ones(tmp_path: Path):
    generate_fleet(tmp_path, clusters=8, hubs_per_cluster=5)
    fleet, problems = validate_fleet(tmp_path)
    assert problems == []
    assert (len(fleet.clusters), sum(1 for _ in fleet.hubs())) == (8, 40)
    daskhub = plan_changes(fleet, ["charts/daskhub/Chart.yaml"])
    assert daskhub.prod == ["cluster-000/hub-01", "cluster-004/hub-01"]
    assert daskhub.staging == ["cluster-000/staging", "cluster-004/staging"]
    assert len(plan_changes(fleet, ["charts/basehub/values.yaml"]).hub_ids()) == 40
