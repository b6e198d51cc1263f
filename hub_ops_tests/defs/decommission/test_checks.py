"""no_orphaned_releases against releases deployed on the local kube-apiserver."""

import dagster as dg

from hub_ops.defs.decommission.checks import no_orphaned_releases
from hub_ops.defs.deploy.jobs import deploy_job
from hub_ops_tests.tables import rows


def test_a_hub_removed_from_config_while_deployed_is_flagged(fleet_repo_factory, auto_kubelet, deploy_resources):
    repo = fleet_repo_factory(clusters=("alpha",), hubs=("staging", "prod"))
    resources = deploy_resources(repo)
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        config = {
            "hubs": ["alpha", "alpha/staging", "alpha/prod"],
            "start_server": False,
            "ready_timeout_s": 20,
            "dry_run": False,
        }
        assert deploy_job.execute_in_process(
            run_config={"ops": {"plan_deploy": {"config": config}}}, instance=instance, resources=resources
        ).success

        def check():
            context = dg.build_asset_check_context(instance=instance)
            return no_orphaned_releases(context, fleet=resources["fleet"], kube=resources["kube"])

        result = check()
        assert result.passed, result.metadata
        doc = repo.cluster_doc("alpha")
        doc["hubs"] = [h for h in doc["hubs"] if h["name"] != "staging"]
        repo.write_yaml("clusters/alpha/cluster.yaml", doc)
        result = check()
        assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
        assert rows(result.metadata["problems"]) == [
            {
                "cluster": "alpha",
                "hub": "alpha/staging",
                "namespace": repo.namespace("alpha", "staging"),
                "revision": 1,
                "chart": "basehub-0.1.0",
                "note": "",
            }
        ]
        assert result.description == "1 of 1 clusters failed: alpha" and result.metadata["orphaned"].value == 1
