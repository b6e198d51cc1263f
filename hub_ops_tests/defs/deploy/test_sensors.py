"""deploy_on_push over a real bare git repo: cursor handling, batching, force-pushes,
re-evaluated ticks, and the run it requests deploying for real."""

import dagster as dg
import pytest

from hub_ops.defs.deploy.jobs import deploy_job
from hub_ops.defs.deploy.sensors import deploy_on_push
from hub_ops_tests.fleet_repos import build_fleet_repo, git


@pytest.fixture
def repo(tmp_path, age_key):
    """A fleet repo (no cluster is contacted while planning)."""
    return build_fleet_repo(
        tmp_path / "fleet", clusters={"alpha": "/nonexistent", "beta": "/nonexistent"}, hub_token="t0ken", age=age_key
    )


def tick(repo, deploy_resources, instance, cursor):
    res = deploy_resources(repo)
    context = dg.build_sensor_context(
        cursor=cursor, instance=instance, resources={"fleet": res["fleet"], "git": res["git"]}
    )
    result = deploy_on_push(context)
    if isinstance(result, dg.SkipReason):
        return [], result.skip_message, cursor
    return (
        list(result.run_requests or []),
        (result.skip_reason.skip_message if result.skip_reason else None),
        result.cursor,
    )


def test_first_tick_starts_watching_without_deploying(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        requests, skip, cursor = tick(repo, deploy_resources, instance, None)
        assert requests == [] and cursor == repo.head()
        assert "started watching main" in skip
        requests, skip, cursor = tick(repo, deploy_resources, instance, cursor)
        assert requests == [] and skip.startswith("no new commits on main")


def test_twenty_commits_are_planned_in_one_tick(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        start = repo.head()
        for i in range(20):
            cluster = ("alpha", "beta")[i % 2]
            repo.write_yaml(f"clusters/{cluster}/prod.values.yaml", {"jupyterhub": {"hub": {"config": {"n": i}}}})
            repo.commit(f"change {i}")
        head = repo.head()
        requests, skip, cursor = tick(repo, deploy_resources, instance, start)
        assert cursor == head and skip is None
        assert [r.run_key for r in requests] == [f"deploy-{head[:12]}-alpha", f"deploy-{head[:12]}-beta"]
        config = requests[0].run_config["ops"]["plan_deploy"]["config"]
        assert config == {"base": start, "commit": head, "clusters": ["alpha"], "dry_run": False}
        assert requests[0].tags["hub_ops/cluster"] == "alpha" and requests[0].tags["hub_ops/subject"] == "change 19"
        # the runs list says what each run deploys before it starts: its hubs (canary first), not a dry run
        assert [(r.tags["hub_ops/hubs"], r.tags["hub_ops/dry_run"]) for r in requests] == [
            ("alpha/staging, alpha/prod", "false"),
            ("beta/staging, beta/prod", "false"),
        ]
        # a tick re-evaluated after a crash (cursor not saved) asks for the same run keys
        again, _, _ = tick(repo, deploy_resources, instance, start)
        assert [r.run_key for r in again] == [r.run_key for r in requests]


def test_two_pushes_in_quick_succession_deploy_each_change_once(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        _, _, cursor = tick(repo, deploy_resources, instance, None)
        repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"hub": {"config": {"a": 1}}}})
        first = repo.commit("alpha prod")
        requests, _, cursor = tick(repo, deploy_resources, instance, cursor)
        assert [r.tags["hub_ops/cluster"] for r in requests] == ["alpha"]
        repo.write_yaml("clusters/beta/staging.values.yaml", {"jupyterhub": {"hub": {"config": {"b": 1}}}})
        second = repo.commit("beta staging")
        requests, _, cursor = tick(repo, deploy_resources, instance, cursor)
        assert [r.tags["hub_ops/cluster"] for r in requests] == ["beta"]
        assert requests[0].run_config["ops"]["plan_deploy"]["config"]["base"] == first
        assert cursor == second


def test_a_force_push_plans_from_the_merge_base(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        base = repo.head()
        repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"hub": {"config": {"a": 1}}}})
        dropped = repo.commit("to be rewritten")
        _, _, cursor = tick(repo, deploy_resources, instance, base)
        assert cursor == dropped
        git(repo.root, "reset", "-q", "--hard", base)
        repo.write_yaml("clusters/beta/prod.values.yaml", {"jupyterhub": {"hub": {"config": {"b": 2}}}})
        new_head = repo.commit("rewritten", push=False)
        git(repo.root, "push", "-q", "--force", "origin", "HEAD:main")
        requests, _, cursor = tick(repo, deploy_resources, instance, cursor)
        assert cursor == new_head
        assert [r.tags["hub_ops/cluster"] for r in requests] == ["beta"]
        assert requests[0].run_config["ops"]["plan_deploy"]["config"]["base"] == base


def test_commits_that_deploy_nothing_are_a_skip_reason(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        start = repo.head()
        repo.write("NOTES.md", "hello\n")
        head = repo.commit("notes")
        requests, skip, cursor = tick(repo, deploy_resources, instance, start)
        assert requests == [] and cursor == head
        assert skip == f"1 commit(s) {start[:12]}..{head[:12]}: nothing to deploy (changed: NOTES.md)"


def test_removed_hub_is_reported_not_deployed(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        start = repo.head()
        doc = repo.cluster_doc("beta")
        doc["hubs"] = [h for h in doc["hubs"] if h["name"] != "prod"]
        repo.write_yaml("clusters/beta/cluster.yaml", doc)
        repo.commit("retire beta prod")
        requests, skip, _ = tick(repo, deploy_resources, instance, start)
        assert requests == [] and "removed hubs need a decommission run: beta/prod" in skip


def test_invalid_config_at_head_keeps_the_cursor(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        start = repo.head()
        doc = repo.cluster_doc("alpha")
        doc["hubs"][0]["helm_chart"] = 42
        doc["hubs"][0]["colour"] = "red"
        repo.write_yaml("clusters/alpha/cluster.yaml", doc)
        repo.commit("broken")
        requests, skip, cursor = tick(repo, deploy_resources, instance, start)
        assert requests == [] and cursor == start
        assert (
            "fleet config invalid at" in skip
            and "clusters/alpha/cluster.yaml:" in skip
            and "hubs[0].colour: unknown key" in skip
        )


def test_the_requested_run_deploys(fleet_repo_factory, auto_kubelet, deploy_resources):
    repo = fleet_repo_factory(clusters=("alpha",), hubs=("staging", "prod"))
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        _, _, cursor = tick(repo, deploy_resources, instance, None)
        repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"singleuser": {"defaultUrl": "/tree"}}})
        repo.commit("alpha prod")
        (request,), _, _ = tick(repo, deploy_resources, instance, cursor)
        config = request.run_config
        config["ops"]["plan_deploy"]["config"].update(start_server=False, ready_timeout_s=20)
        result = deploy_job.execute_in_process(
            run_config=config, instance=instance, tags=request.tags, resources=deploy_resources(repo)
        )
        assert result.success
        deployed = {
            e.event_specific_data.materialization.partition
            for e in result.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
        }
        assert deployed == {"alpha.staging", "alpha.prod"}
