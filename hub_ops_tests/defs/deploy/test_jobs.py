"""deploy_job against the local stack: per-cluster chains, failures contained to their
cluster, hub_releases recorded, secrets never in events, dry-run changing nothing."""

import json

import dagster as dg

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.helm import HelmClient
from hub_ops.clients.sops import Sops
from hub_ops.defs.deploy.assets import HUB_RELEASES
from hub_ops.defs.deploy.jobs import deploy_job
from hub_ops.fleet import load_fleet
from hub_ops_tests.tables import rows


def run_deploy(resources, instance, **config):
    config = {"ready_timeout_s": 20, "health_timeout_s": 20, "start_server": False, "dry_run": False, **config}
    return deploy_job.execute_in_process(
        run_config={"ops": {"plan_deploy": {"config": config}}},
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


def step_status(result) -> dict[str, str]:
    return {
        e.step_key: e.event_type_value
        for e in result.all_events
        if e.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")
    }


def output_metadata(result, step_key: str) -> dict:
    """The metadata of a step's outputs (the plan's per-cluster outputs merged)."""
    out = {}
    for e in result.all_events:
        if e.step_key == step_key and e.event_type_value == "STEP_OUTPUT":
            out.update(e.event_specific_data.metadata)
    return out


def recorded(instance, partition):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=HUB_RELEASES, asset_partitions=[partition]), limit=5
    ).records
    return [r.asset_materialization for r in records]


def helm_for(repo, age_key, cluster):
    fleet = load_fleet(repo.root)
    return HelmClient(cluster_access(fleet, fleet.clusters[cluster], Sops(str(age_key.path))))


def test_one_clusters_failing_staging_blocks_only_its_own_prod(
    fleet_repo_factory, auto_kubelet, deploy_resources, age_key, jupyterhub_server
):
    repo = fleet_repo_factory(clusters=("alpha", "beta", "gamma"))
    # beta's staging hub gets a token its JupyterHub does not know: its health check fails
    repo.write_secret(
        "clusters/beta/enc-staging.secret.values.yaml",
        {"jupyterhub": {"hub": {"services": {"hub-ops": {"apiToken": "wrong-token-for-beta"}}}}},
    )
    sha = repo.commit("beta staging: new token")
    hubs = [f"{c}/{h}" for c in ("alpha", "beta", "gamma") for h in ("staging", "prod")]
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        result = run_deploy(deploy_resources(repo), instance, hubs=hubs)
        steps = step_status(result)
        assert not result.success
        assert steps["check_staging[beta]"] == "STEP_FAILURE"
        assert "deploy_prod[beta]" not in steps or steps["deploy_prod[beta]"] == "STEP_SKIPPED"
        assert steps["deploy_prod[alpha]"] == steps["deploy_prod[gamma]"] == "STEP_SUCCESS"
        failure = next(
            e for e in result.all_events if e.step_key == "check_staging[beta]" and e.event_type_value == "STEP_FAILURE"
        )
        assert "beta/staging: health check failed" in failure.event_specific_data.error.message
        assert "403" in failure.event_specific_data.error.message
        [row] = rows(failure.event_specific_data.user_failure_data.metadata["failures"])
        assert (row["release"], row["retryable"]) == ("beta/staging", False)
        assert row["error"].startswith("beta/staging: health check failed") and "403" in row["error"]

        for cluster in ("alpha", "gamma"):
            for hub in ("staging", "prod"):
                (mat,) = recorded(instance, f"{cluster}.{hub}")
                meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
                assert meta["git_sha"] == sha and meta["helm_revision"] == 1 and meta["status"] == "deployed"
                assert meta["values_digest"].startswith("sha256:") and meta["chart"] == "basehub"
                assert meta["health"].startswith("JupyterHub 6.")
        assert recorded(instance, "beta.staging") == [] and recorded(instance, "beta.prod") == []
        # the failed staging hub was rolled back (a first install: removed); beta prod never installed
        beta = helm_for(repo, age_key, "beta")
        assert beta.current("staging", repo.namespace("beta", "staging")) is None
        assert beta.current("prod", repo.namespace("beta", "prod")) is None
        beta.close()

        everything = json.dumps(
            [e.to_json() if hasattr(e, "to_json") else str(e) for e in instance.all_logs(result.run_id)]
        )
        assert jupyterhub_server.api_token not in everything
        assert "wrong-token-for-beta" not in everything


def test_a_cluster_whose_api_is_down_does_not_stop_the_others(fleet_repo_factory, auto_kubelet, deploy_resources):
    repo = fleet_repo_factory(clusters=("alpha",), down=("gamma",), hubs=("prod",))
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        result = run_deploy(deploy_resources(repo), instance, hubs=["alpha/prod", "gamma/prod"])
        steps = step_status(result)
        assert steps["deploy_prod[alpha]"] == "STEP_SUCCESS" and steps["deploy_prod[gamma]"] == "STEP_FAILURE"
        failure = [
            e for e in result.all_events if e.step_key == "deploy_prod[gamma]" and e.event_type_value == "STEP_FAILURE"
        ][-1]
        text = failure.event_specific_data.error.message + "".join(
            c.message for c in [failure.event_specific_data.error.cause] if c
        )
        assert "gamma/prod: cluster gamma: API not reachable" in text
        [row] = rows(failure.event_specific_data.user_failure_data.metadata["failures"])
        assert (row["release"], row["retryable"]) == ("gamma/prod", True)  # an API may come back
        assert len(recorded(instance, "alpha.prod")) == 1


def test_dry_run_validates_every_release_and_changes_nothing(fleet_repo_factory, deploy_resources, age_key):
    repo = fleet_repo_factory(clusters=("alpha",))
    with dg.instance_for_test() as instance:
        result = run_deploy(
            deploy_resources(repo), instance, hubs=["alpha", "alpha/staging", "alpha/prod"], dry_run=True
        )
        assert result.success
        outputs = [
            e for e in result.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key.startswith("deploy_prod")
        ]
        releases = {r["release"]: r for r in rows(outputs[0].event_specific_data.metadata["releases"])}
        assert releases["alpha/prod"]["status"] == "dry-run"
        assert "objects valid for Kubernetes 1.30.0" in releases["alpha/prod"]["detail"]
        assert recorded(instance, "alpha.prod") == []
        tags = instance.get_run_by_id(result.run_id).tags
        assert tags["hub_ops/dry_run"] == "true" and tags["hub_ops/hubs"] == "alpha/staging, alpha/prod"
    helm = helm_for(repo, age_key, "alpha")
    assert helm.current("prod", repo.namespace("alpha", "prod")) is None
    helm.close()


def test_a_commit_is_planned_from_its_parent(fleet_repo_factory, auto_kubelet, deploy_resources):
    repo = fleet_repo_factory(clusters=("alpha", "beta"))
    repo.write_yaml("clusters/beta/prod.values.yaml", {"jupyterhub": {"singleuser": {"defaultUrl": "/tree"}}})
    sha = repo.commit("beta prod: classic notebook")
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        result = run_deploy(deploy_resources(repo), instance, commit=sha)
        assert result.success
        steps = step_status(result)
        assert set(k.split("[")[1].rstrip("]") for k in steps if "[" in k) == {"beta"}
        assert len(recorded(instance, "beta.prod")) == 1 and len(recorded(instance, "beta.staging")) == 1  # canary
        # the run shows what it changed: per release in the plan, the diff in the step that deployed it
        changes = {r["release"]: r["change"] for r in rows(output_metadata(result, "plan_deploy")["changes"])}
        assert set(changes) == {"beta/prod", "beta/staging"} and "no change" in changes["beta/staging"]
        diff = output_metadata(result, "deploy_prod[beta]")["diff"].value
        assert "defaultUrl" in diff and "/tree" in diff
        tags = instance.get_run_by_id(result.run_id).tags
        assert tags["hub_ops/dry_run"] == "false" and tags["hub_ops/releases"] == "2"
        assert tags["hub_ops/hubs"] == "beta/staging, beta/prod"


def test_unknown_hub_in_the_config_fails_with_a_clear_message(fleet_repo_factory, deploy_resources):
    repo = fleet_repo_factory(clusters=("alpha",))
    with dg.instance_for_test() as instance:
        result = run_deploy(deploy_resources(repo), instance, hubs=["alpha/nope"])
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "no hub 'alpha/nope'" in failure.event_specific_data.error.message


def test_dry_run_validates_for_the_version_the_cluster_runs(fleet_repo_factory, deploy_resources):
    repo = fleet_repo_factory(clusters=("alpha",))
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "clusters", metadata={"control_plane_versions": dg.MetadataValue.json({"alpha": "1.33.5-gke.1162000"})}
            )
        )
        result = run_deploy(deploy_resources(repo), instance, hubs=["alpha/prod"], dry_run=True)
        assert result.success
        output = next(
            e for e in result.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key == "deploy_prod[alpha]"
        )
        [release] = rows(output.event_specific_data.metadata["releases"])
        assert "objects valid for Kubernetes 1.33.0" in release["detail"]


def test_a_long_hub_list_is_cut_with_a_count():
    from hub_ops.defs.deploy.jobs import hubs_tag

    ids = [f"cluster-{i:02d}/prod" for i in range(60)]
    tag = hubs_tag(ids, limit=100)
    shown = tag.split(" and ")[0].split(", ")
    assert shown == ids[: len(shown)] and tag.endswith(f" and {60 - len(shown)} more") and len(tag) < 120
    assert hubs_tag(ids[:2]) == "cluster-00/prod, cluster-01/prod" and hubs_tag([]) == "none"
