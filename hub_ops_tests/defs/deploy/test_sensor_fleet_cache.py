"""deploy_on_push with the fleet parsed once per commit (hub_ops.deploy.fleet_cache), on a
real git repository whose fleet lives in a subfolder (a fleet prefix), as this project's own
deployments/ does: a push changing only values files plans with the previous commit's fleet
without exporting the tree; a push changing a cluster.yaml is planned with the new file."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import dagster as dg
import pytest

from benchmarks.plan import generate_fleet
from hub_ops.defs.deploy.sensors import deploy_on_push
from hub_ops.defs.shared.resources import FleetResource, GitResource
from hub_ops.deploy.fleet_cache import changes_fleet
from hub_ops.fleet.planner import ChangedPath
from hub_ops_tests.fleet_repos import git

PREFIX = "ops/deployments"


@pytest.fixture
def top(tmp_path: Path) -> Path:
    """A repository with the fleet (2 clusters x 2 hubs) under ops/deployments/, watched
    through fleet.yaml git.remote "." (the repository itself)."""
    top = tmp_path / "repo"
    fleet = top / PREFIX
    generate_fleet(fleet, 2, 2)
    (fleet / "fleet.yaml").write_text("clusters_dir: clusters\ncharts_dir: charts\ngit: {remote: ., branch: main}\n")
    (top / "README.md").write_text("the fleet is in ops/deployments\n")
    git(top, "init", "-q", "-b", "main")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "fleet")
    return top


def commit(top: Path, message: str, **files: str) -> str:
    for path, text in files.items():
        (top / path).write_text(text)
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", message)
    return git(top, "rev-parse", "HEAD")


def tick(top: Path, cache: Path, cursor: str | None):
    resources = {"fleet": FleetResource(root=str(top / PREFIX)), "git": GitResource(cache_dir=str(cache))}
    with dg.instance_for_test() as instance:
        result = deploy_on_push(dg.build_sensor_context(cursor=cursor, instance=instance, resources=resources))
    assert not isinstance(result, dg.SkipReason), result.skip_message
    return result


def mirror_cache(cache: Path) -> Path:
    """The watched remote's cache folder (one per remote and branch)."""
    (folder,) = (cache / "git").iterdir()
    return folder


def hubs_requested(result) -> dict[str, str]:
    return {r.tags["hub_ops/cluster"]: r.tags["hub_ops/hubs"] for r in result.run_requests}


def test_a_values_push_reuses_the_fleet_of_the_previous_commit(top: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    start = git(top, "rev-parse", "HEAD")
    first = tick(top, cache, None)  # starts watching, parses the fleet at start
    assert json.loads(first.cursor)["head"] == start and not first.run_requests
    exported = {p.name for p in (mirror_cache(cache) / "trees").iterdir()}
    assert exported == {start}

    head = commit(
        top, "a hub's values", **{f"{PREFIX}/clusters/cluster-001/hub-01.values.yaml": "jupyterhub: {hub: {}}\n"}
    )
    result = tick(top, cache, start)
    assert json.loads(result.cursor)["head"] == head
    # the cluster's staging hub goes first as the canary (planner rule)
    assert hubs_requested(result) == {"cluster-001": "cluster-001/staging, cluster-001/hub-01"}
    # planned without exporting head's tree: the fleet at start was reused
    assert {p.name for p in (mirror_cache(cache) / "trees").iterdir()} == {start}
    assert {p.stem for p in (mirror_cache(cache) / "fleets").glob("*/*.pickle")} == {start, head}


def test_a_cluster_file_push_is_planned_with_the_new_file(top: Path, tmp_path: Path):
    """The new hub exists only in head's cluster.yaml: a plan made with the cached fleet of
    the previous commit could not name it."""
    cache = tmp_path / "cache"
    start = git(top, "rev-parse", "HEAD")
    tick(top, cache, None)
    cluster_yaml = top / PREFIX / "clusters/cluster-000/cluster.yaml"
    added = (
        "- name: hub-09\n  display_name: hub 9\n  domain: hub-09.cluster-000.example.org\n  helm_chart: basehub\n"
        "  helm_chart_values_files: [common.values.yaml]\n"
    )
    head = commit(top, "a new hub", **{str(cluster_yaml.relative_to(top)): cluster_yaml.read_text() + added})
    result = tick(top, cache, start)
    assert json.loads(result.cursor)["head"] == head
    assert hubs_requested(result) == {"cluster-000": "cluster-000/staging, cluster-000/hub-09"}
    assert head in {p.name for p in (mirror_cache(cache) / "trees").iterdir()}


def test_a_push_outside_the_fleet_folder_deploys_nothing(top: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    start = git(top, "rev-parse", "HEAD")
    tick(top, cache, None)
    head = commit(top, "docs", **{"README.md": "moved nothing\n"})
    result = tick(top, cache, start)
    assert json.loads(result.cursor)["head"] == head and not result.run_requests
    assert "nothing to deploy" in result.skip_reason.skip_message


def test_an_unreadable_cache_entry_is_a_miss(top: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    start = git(top, "rev-parse", "HEAD")
    tick(top, cache, None)
    (entry,) = (mirror_cache(cache) / "fleets").glob(f"*/{start}.pickle")
    entry.write_bytes(pickle.dumps({"not": "a fleet"}))
    head = commit(top, "values", **{f"{PREFIX}/clusters/cluster-000/staging.values.yaml": "jupyterhub: {}\n"})
    result = tick(top, cache, start)
    assert hubs_requested(result) == {"cluster-000": "cluster-000/staging"}
    assert head in {p.name for p in (mirror_cache(cache) / "trees").iterdir()}  # loaded from head's tree


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (ChangedPath("fleet.yaml"), True),
        (ChangedPath("clusters/a/cluster.yaml", "A"), True),
        (ChangedPath("charts/basehub/Chart.yaml"), True),
        (ChangedPath("clusters/b/x.yaml", "R", "clusters/a/cluster.yaml"), True),  # renamed away
        (ChangedPath("clusters/a/prod.values.yaml"), False),
        (ChangedPath("charts/basehub/templates/hub.yaml"), False),
        (ChangedPath("charts/basehub/values.yaml", "D"), False),
    ],
)
def test_which_changes_can_change_the_fleet(change: ChangedPath, expected: bool):
    assert changes_fleet([change]) is expected
