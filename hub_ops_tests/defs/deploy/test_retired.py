"""Retired hubs stay retired, however a deploy is planned: the deploy_on_push sensor and
the run it requests, deploy_job given a `commit` or a `base..commit` range, and deploy_job
given the hub by name (a clear failure naming the record, unless the run gives a reason,
which is then recorded with the run). Against the local stack: no release, no namespace."""

import dagster as dg
from kubernetes import client

from hub_ops.defs.decommission.records import DECOMMISSIONED, DecommissionRecord
from hub_ops.defs.deploy.jobs import deploy_job
from hub_ops.defs.deploy.sensors import deploy_on_push
from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops_tests.defs.deploy.test_jobs import helm_for, step_status
from hub_ops_tests.tables import rows

RETIRED = "alpha/prod"


def retire(instance, hub_id: str, on: str = "2026-11-30") -> None:
    """Record a retirement as decommission_job does: a hub_decommissions materialization."""
    partition = hub_id.replace("/", ".", 1)
    instance.add_dynamic_partitions(hubs_partitions.name, [partition])
    record = DecommissionRecord(hub=hub_id, state=DECOMMISSIONED, decommissioned_on=on, successor="alpha/staging")
    instance.report_runless_asset_event(record.materialization(partition, f"{hub_id} decommissioned"))


def namespace_exists(kube_cluster, name: str) -> bool:
    try:
        client.CoreV1Api(kube_cluster.api_client()).read_namespace(name)
        return True
    except client.ApiException as e:
        assert e.status == 404
        return False


def run(resources, instance, **config):
    config = {"ready_timeout_s": 20, "health_timeout_s": 20, "start_server": False, "dry_run": False, **config}
    return deploy_job.execute_in_process(
        run_config={"ops": {"plan_deploy": {"config": config}}},
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


def assert_not_deployed(repo, age_key, kube_cluster) -> None:
    helm = helm_for(repo, age_key, "alpha")
    assert helm.current("prod", repo.namespace("alpha", "prod")) is None
    helm.close()
    assert not namespace_exists(kube_cluster, repo.namespace("alpha", "prod"))


def test_a_retired_hub_is_never_redeployed_by_a_planned_range(
    fleet_repo_factory, auto_kubelet, deploy_resources, age_key, kube_cluster
):
    repo = fleet_repo_factory(clusters=("alpha",))
    resources = deploy_resources(repo)
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        retire(instance, RETIRED)
        start = repo.head()
        # a change to the hubs' chart and to the values file every hub of the cluster shares
        chart_values = repo.root / "charts" / "basehub" / "values.yaml"
        chart_values.write_text(chart_values.read_text() + "# touched\n")
        repo.write_yaml(
            "clusters/alpha/common.values.yaml",
            {
                "jupyterhub": {"hub": {"config": {"JupyterHub": {"authenticator_class": "dummy", "n": 2}}}},
                "home": {"pvc": {"create": False}},
            },
        )
        head = repo.commit("chart and shared values")

        # 1. the sensor, and the run it requests
        context = dg.build_sensor_context(
            cursor=start, instance=instance, resources={"fleet": resources["fleet"], "git": resources["git"]}
        )
        (request,) = deploy_on_push(context).run_requests
        config = request.run_config
        assert config["ops"]["plan_deploy"]["config"]["dry_run"] is False
        config["ops"]["plan_deploy"]["config"].update(start_server=False, ready_timeout_s=20)
        result = deploy_job.execute_in_process(
            run_config=config, instance=instance, tags=request.tags, resources=resources
        )
        assert result.success
        assert "deploy_prod[alpha]" in step_status(result)
        assert_not_deployed(repo, age_key, kube_cluster)
        helm = helm_for(repo, age_key, "alpha")
        assert helm.current("staging", repo.namespace("alpha", "staging")).status == "deployed"  # the others do
        helm.close()

        # 2. deploy_job given the commit (planned from its parent), and given base..commit
        for config in ({"commit": head}, {"commit": head, "base": start}):
            result = run(resources, instance, **config)
            assert result.success, config
            plan_logs = [
                e.message for e in instance.all_logs(result.run_id) if "retired hubs left out" in (e.message or "")
            ]
            assert plan_logs and "alpha/prod (decommissioned on 2026-11-30)" in plan_logs[0]
            assert_not_deployed(repo, age_key, kube_cluster)


def test_a_retired_hub_asked_for_by_name_needs_a_reason_which_is_recorded(
    fleet_repo_factory, auto_kubelet, deploy_resources, age_key, kube_cluster
):
    repo = fleet_repo_factory(clusters=("alpha",))
    resources = deploy_resources(repo)
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        retire(instance, RETIRED)
        result = run(resources, instance, hubs=[RETIRED, "alpha/staging"])
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.event_specific_data.error.message
        assert "refusing to deploy retired hub(s)" in message
        assert "alpha/prod: decommissioned on 2026-11-30 (asset hub_decommissions, partition alpha.prod)" in message
        assert "retired_hub_reason" in message
        assert_not_deployed(repo, age_key, kube_cluster)
        helm = helm_for(repo, age_key, "alpha")
        assert helm.current("staging", repo.namespace("alpha", "staging")) is None  # nothing of that run
        helm.close()

        reason = "re-opened for the spring course (ticket 42)"
        result = run(resources, instance, hubs=[RETIRED], retired_hub_reason=reason)
        assert result.success
        assert instance.get_run_by_id(result.run_id).tags["hub_ops/retired_hub_reason"] == reason
        plan_output = next(
            e for e in result.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key == "plan_deploy"
        )
        metadata = plan_output.event_specific_data.metadata
        assert metadata["retired_hub_reason"].value == reason
        assert metadata["retired_hubs_deployed"].value == RETIRED
        assert any(reason in (e.message or "") and "on purpose" in e.message for e in instance.all_logs(result.run_id))
        assert namespace_exists(kube_cluster, repo.namespace("alpha", "prod"))  # deployed, as asked


def test_a_manual_launch_is_a_dry_run_unless_it_says_otherwise(fleet_repo_factory, deploy_resources, age_key):
    repo = fleet_repo_factory(clusters=("alpha",))
    with dg.instance_for_test() as instance:
        result = deploy_job.execute_in_process(
            run_config={"ops": {"plan_deploy": {"config": {"hubs": ["alpha/prod"]}}}},
            instance=instance,
            resources=deploy_resources(repo),
        )
        assert result.success
        output = next(
            e for e in result.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key == "deploy_prod[alpha]"
        )
        assert [(r["release"], r["status"]) for r in rows(output.event_specific_data.metadata["releases"])] == [
            ("alpha/prod", "dry-run")
        ]
    helm = helm_for(repo, age_key, "alpha")
    assert helm.current("prod", repo.namespace("alpha", "prod")) is None
    helm.close()
