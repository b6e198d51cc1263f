"""hub_releases_in_sync against live releases on the local kube-apiserver."""

import dagster as dg

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.helm import HelmClient
from hub_ops.clients.sops import Sops
from hub_ops.defs.deploy.checks import hub_releases_in_sync
from hub_ops.defs.deploy.jobs import deploy_job
from hub_ops.deploy.releases import PreparedCharts, hub_release
from hub_ops.deploy.values import load_values_files
from hub_ops.fleet import load_fleet
from hub_ops_tests.tables import rows


def check(instance, resources):
    keys = ("fleet", "git", "sops", "kube")
    context = dg.build_asset_check_context(resources={k: resources[k] for k in keys}, instance=instance)
    with context.op_execution_context:  # resources with nested resources are opened as context managers
        return hub_releases_in_sync(context)


def deploy(repo, resources, instance, hubs):
    config = {"hubs": hubs, "start_server": False, "ready_timeout_s": 20, "dry_run": False}
    assert deploy_job.execute_in_process(
        run_config={"ops": {"plan_deploy": {"config": config}}}, instance=instance, resources=resources
    ).success


def test_in_sync_then_drift_outside_hub_ops_then_config_ahead(
    fleet_repo_factory, auto_kubelet, deploy_resources, age_key
):
    repo = fleet_repo_factory(clusters=("alpha",), hubs=("prod",))
    resources = deploy_resources(repo)
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        deploy(repo, resources, instance, ["alpha/prod"])
        result = check(instance, resources)
        assert result.passed, result.description
        [row] = rows(result.metadata["hubs"])
        assert row["hub"] == "alpha/prod" and row["state"] == "in sync" and row["detail"].startswith("revision 1")
        assert result.description == "every recorded release matches: 1 of 1 hubs checked"

        # someone upgrades the release by hand
        fleet = load_fleet(repo.root)
        sops = Sops(str(age_key.path))
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        helm = HelmClient(cluster_access(fleet, fleet.clusters["alpha"], sops))
        values = load_values_files(list(release.values_files), sops)
        values["jupyterhub"]["hub"]["replicas"] = 2
        with PreparedCharts(fleet) as charts:
            helm.upgrade_install(charts.path(release), release.name, release.namespace, values)
        result = check(instance, resources)
        assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
        assert result.description == "1 of 1 hubs failed: alpha/prod"
        [row] = rows(result.metadata["problems"])
        assert row["hub"] == "alpha/prod" and row["state"] == "DRIFT"
        assert "live revision 2, recorded 1 (changed outside hub_ops?)" in row["detail"]
        assert "live manifest differs from the last recorded deploy" in row["detail"]

        # hub_ops redeploys what the config says: in sync again
        helm.rollback(release.name, release.namespace, 1)
        deploy(repo, resources, instance, ["alpha/prod"])
        assert check(instance, resources).passed

        # the config moves on in git but is not deployed yet
        repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"singleuser": {"defaultUrl": "/tree"}}})
        repo.commit("not deployed yet")
        result = check(instance, resources)
        assert not result.passed
        assert "config at head renders differently from what is live" in rows(result.metadata["hubs"])[0]["detail"]
        helm.close()


def test_unreachable_cluster_is_reported_not_failed(fleet_repo_factory, deploy_resources):
    repo = fleet_repo_factory(clusters=(), down=("gamma",), hubs=("prod",))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", ["gamma.prod"])
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "hub_releases", partition="gamma.prod", metadata={"helm_revision": 1, "manifest_digest": "sha256:x"}
            )
        )
        result = check(instance, deploy_resources(repo))
        # nothing could be checked: a warning that says why, never a pass
        assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
        assert result.metadata["not_checked"].value == 1 and result.metadata["checked"].value == 0
        assert result.description.startswith("0 of 1 hubs checked, because ")
        assert rows(result.metadata["not checked"])[0]["hub"] == "gamma/prod"
