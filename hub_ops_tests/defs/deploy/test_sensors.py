"""deploy_on_push over a real bare git repo: cursor handling, batching, pacing over ticks,
force-pushes, re-evaluated ticks, and the run it requests deploying for real."""

import json

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


def head_of(cursor: str) -> str:
    return json.loads(cursor)["head"]


def fetch_due(cursor: str) -> str:
    """The cursor as if its last fetch were long ago: the next tick fetches even with runs pending."""
    doc = json.loads(cursor)
    doc["fetched"] = 0
    return json.dumps(doc)


def test_first_tick_starts_watching_without_deploying(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        requests, skip, cursor = tick(repo, deploy_resources, instance, None)
        assert requests == [] and head_of(cursor) == repo.head()
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
        requests, skip, cursor = tick(repo, deploy_resources, instance, start)  # a cursor written before pacing
        assert head_of(cursor) == head and skip is None
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
        assert head_of(cursor) == second


def test_a_force_push_plans_from_the_merge_base(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        base = repo.head()
        repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"hub": {"config": {"a": 1}}}})
        dropped = repo.commit("to be rewritten")
        _, _, cursor = tick(repo, deploy_resources, instance, base)
        assert head_of(cursor) == dropped
        git(repo.root, "reset", "-q", "--hard", base)
        repo.write_yaml("clusters/beta/prod.values.yaml", {"jupyterhub": {"hub": {"config": {"b": 2}}}})
        new_head = repo.commit("rewritten", push=False)
        git(repo.root, "push", "-q", "--force", "origin", "HEAD:main")
        requests, _, cursor = tick(repo, deploy_resources, instance, cursor)
        assert head_of(cursor) == new_head
        assert [r.tags["hub_ops/cluster"] for r in requests] == ["beta"]
        assert requests[0].run_config["ops"]["plan_deploy"]["config"]["base"] == base


def test_commits_that_deploy_nothing_are_a_skip_reason(repo, deploy_resources):
    with dg.instance_for_test() as instance:
        start = repo.head()
        repo.write("NOTES.md", "hello\n")
        head = repo.commit("notes")
        requests, skip, cursor = tick(repo, deploy_resources, instance, start)
        assert requests == [] and head_of(cursor) == head
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
        assert requests == [] and head_of(cursor) == start
        assert (
            "fleet config invalid at" in skip
            and "clusters/alpha/cluster.yaml:" in skip
            and "hubs[0].colour: unknown key" in skip
        )


FIVE = ("c1", "c2", "c3", "c4", "c5")


@pytest.fixture
def five(tmp_path, age_key):
    """Five clusters, deploy.runs_per_tick 2 (no cluster is contacted while planning)."""
    repo = build_fleet_repo(
        tmp_path / "fleet", clusters=dict.fromkeys(FIVE, "/nonexistent"), hub_token="t0ken", age=age_key
    )
    set_runs_per_tick(repo, 2)
    return repo


def set_runs_per_tick(repo, value) -> None:
    import yaml

    doc = yaml.safe_load((repo.root / "fleet.yaml").read_text())
    doc["deploy"] = {"runs_per_tick": value}
    repo.write_yaml("fleet.yaml", doc)
    repo.commit(f"runs_per_tick {value}")


def change_clusters(repo, clusters, n: int) -> str:
    for c in clusters:
        repo.write_yaml(f"clusters/{c}/common.values.yaml", {"jupyterhub": {"hub": {"config": {"n": n}}}})
    return repo.commit(f"change {n} on {', '.join(clusters)}")


def keys(requests) -> list[str]:
    return [r.run_key for r in requests]


def test_a_push_to_five_clusters_is_paced_two_runs_a_tick(five, deploy_resources):
    repo = five
    with dg.instance_for_test() as instance:
        _, _, cursor = tick(repo, deploy_resources, instance, None)
        head = change_clusters(repo, FIVE, 1)
        seen = []
        for _ in range(3):
            requests, skip, cursor = tick(repo, deploy_resources, instance, cursor)
            seen.append(keys(requests))
        assert seen == [
            [f"deploy-{head[:12]}-c1", f"deploy-{head[:12]}-c2"],
            [f"deploy-{head[:12]}-c3", f"deploy-{head[:12]}-c4"],
            [f"deploy-{head[:12]}-c5"],
        ]
        assert json.loads(cursor)["pending"] == [] and head_of(cursor) == head
        requests, skip, cursor = tick(repo, deploy_resources, instance, cursor)  # drained: an idle tick
        assert requests == [] and skip == f"no new commits on main (head {head[:12]})"


def test_the_tick_says_what_it_requested_and_what_waits(five, deploy_resources, capfd):
    repo = five
    with dg.instance_for_test() as instance:
        _, _, cursor = tick(repo, deploy_resources, instance, None)
        head = change_clusters(repo, FIVE, 1)
        res = deploy_resources(repo)
        context = dg.build_sensor_context(
            cursor=cursor, instance=instance, resources={"fleet": res["fleet"], "git": res["git"]}
        )
        capfd.readouterr()
        deploy_on_push(context)  # logs to the console (and, under the daemon, the tick's log)
    expected = (
        f"requested 2 of 5 cluster runs for {head[:12]} (c1, c2); 3 pending (3 for {head[:12]}), next: c3, c4, c5"
    )
    out = capfd.readouterr()
    assert expected in out.out + out.err


def test_a_push_while_runs_are_pending_goes_after_them(five, deploy_resources):
    repo = five
    with dg.instance_for_test() as instance:
        _, _, cursor = tick(repo, deploy_resources, instance, None)
        first = change_clusters(repo, FIVE, 1)
        requests, _, cursor = tick(repo, deploy_resources, instance, cursor)
        order = keys(requests)
        second = change_clusters(repo, ("c1", "c5"), 2)
        # a tick within FETCH_EVERY_S of the last fetch hands out what is pending, unfetched
        requests, _, not_fetched = tick(repo, deploy_resources, instance, cursor)
        assert head_of(not_fetched) == first and keys(requests) == [
            f"deploy-{first[:12]}-c3",
            f"deploy-{first[:12]}-c4",
        ]
        cursor = fetch_due(cursor)
        requests, _, cursor = tick(repo, deploy_resources, instance, cursor)
        assert head_of(cursor) == second
        order += keys(requests)
        for _ in range(3):
            requests, _, cursor = tick(repo, deploy_resources, instance, cursor)
            order += keys(requests)
        a, b = first[:12], second[:12]
        assert order == [f"deploy-{a}-c1", f"deploy-{a}-c2", f"deploy-{a}-c3", f"deploy-{a}-c4"] + [
            f"deploy-{a}-c5",
            f"deploy-{b}-c1",
            f"deploy-{b}-c5",
        ]
        assert requests == [] and json.loads(cursor)["pending"] == []


def test_a_second_push_deploys_from_the_first(five, deploy_resources):
    repo = five
    with dg.instance_for_test() as instance:
        _, _, cursor = tick(repo, deploy_resources, instance, None)
        watched = repo.head()
        first = change_clusters(repo, FIVE, 1)
        _, _, cursor = tick(repo, deploy_resources, instance, cursor)
        second = change_clusters(repo, ("c5",), 2)
        requests = []
        for _ in range(3):
            got, _, cursor = tick(repo, deploy_resources, instance, fetch_due(cursor))
            requests += got
        configs = [r.run_config["ops"]["plan_deploy"]["config"] for r in requests if r.tags["hub_ops/cluster"] == "c5"]
        assert [(c["base"], c["commit"]) for c in configs] == [(watched, first), (first, second)]
        assert [r.tags["hub_ops/hubs"] for r in requests if r.tags["hub_ops/cluster"] == "c5"] == [
            "c5/staging, c5/prod",
            "c5/staging, c5/prod",
        ]


def test_a_re_evaluated_tick_asks_for_the_same_runs(five, deploy_resources):
    repo = five
    with dg.instance_for_test() as instance:
        _, _, cursor = tick(repo, deploy_resources, instance, None)
        change_clusters(repo, FIVE, 1)
        _, _, cursor = tick(repo, deploy_resources, instance, cursor)
        once, _, after_once = tick(repo, deploy_resources, instance, cursor)
        again, _, after_again = tick(repo, deploy_resources, instance, cursor)  # the cursor was not saved
        assert keys(once) == keys(again) and len(once) == 2
        assert json.loads(after_once)["pending"] == json.loads(after_again)["pending"]


@pytest.mark.parametrize(
    ("cursor", "problem"),
    [
        ("{not json", "not a commit sha nor the JSON deploy_on_push writes"),
        ('{"head": "main", "pending": []}', "head is not a commit sha: 'main'"),
        ('{"head": "' + "a" * 40 + '"}', "KeyError: 'pending'"),
    ],
)
def test_a_corrupt_cursor_is_a_skip_reason(repo, deploy_resources, cursor, problem):
    with dg.instance_for_test() as instance:
        requests, skip, _ = tick(repo, deploy_resources, instance, cursor)
    assert requests == []
    assert skip.startswith("cursor unreadable, nothing requested: ") and problem in skip
    assert "dagster sensor cursor deploy_on_push --delete" in skip


@pytest.mark.parametrize("value", [0, "five"])
def test_an_invalid_runs_per_tick_is_reported(repo, deploy_resources, value):
    with dg.instance_for_test() as instance:
        _, _, cursor = tick(repo, deploy_resources, instance, None)
        set_runs_per_tick(repo, value)
        requests, skip, after = tick(repo, deploy_resources, instance, cursor)
    assert requests == [] and after == cursor
    assert skip.startswith("cannot read the fleet repo: ") and "fleet.yaml" in skip and "deploy.runs_per_tick" in skip


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
