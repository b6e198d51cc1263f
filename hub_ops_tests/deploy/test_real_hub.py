"""Deploys whose hubs really run: the stand-in kubelet starts each hub Deployment's
container as a JupyterHub process (hub_kubelet), and the health check reaches THAT hub
through its Service's endpoints (cluster_hub_api, or deploy_job's hub_api resource built by
deploy_resources(real_hubs=True)). A values change that breaks the hub fails readiness or
the health check, and the deploy rolls back to the revision whose hub answers again.

Each test runs one hub at a time (~100 MB, ~1 s CPU per start): a token only that hub
knows proves which hub answered, no shared JupyterHub is started."""

from __future__ import annotations

import secrets
from contextlib import contextmanager

import dagster as dg
import pytest

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.helm import HelmClient
from hub_ops.clients.jupyterhub import HubApiError
from hub_ops.clients.kube import KubeClient
from hub_ops.clients.sops import Sops
from hub_ops.defs.deploy.jobs import deploy_job
from hub_ops.deploy.releases import PreparedCharts, hub_release
from hub_ops.deploy.runner import DeployFailed, DeploySettings, ReleaseDeployer
from hub_ops.fleet import load_fleet
from hub_ops_dev.stack.hub_api import PUBLIC_PORT, PUBLIC_SERVICE, ServiceHubApi
from hub_ops_dev.stack.kube import wait_for
from hub_ops_dev.stack.services import service_endpoint

# readiness: a hub starts in 2-5 s on a loaded 2-core machine; a broken one restarts with back-off meanwhile
SETTINGS = DeploySettings(ready_timeout=30, health_timeout=30, poll=0.3, lease_wait=5, start_server=False)
BAD_AUTHENTICATOR = "no_such_module.NoSuchAuthenticator"


@contextmanager
def deployer_for(repo, age_key, hub_api, settings=SETTINGS):
    fleet = load_fleet(repo.root)
    sops = Sops(str(age_key.path))
    access = cluster_access(fleet, fleet.clusters["alpha"], sops)
    helm = HelmClient(access)
    with PreparedCharts(fleet) as charts:
        yield (
            fleet,
            helm,
            ReleaseDeployer(
                fleet, charts, sops, helm=helm, kube=KubeClient(access, "alpha"), hub_api=hub_api, settings=settings
            ),
        )
    helm.close()


def _hub_config(repo, hub: str, **traits) -> None:
    """The hub's own values file sets JupyterHub traits (layered over common.values.yaml)."""
    repo.write_yaml(f"clusters/alpha/{hub}.values.yaml", {"jupyterhub": {"hub": {"config": {"JupyterHub": traits}}}})


def _hub_pod(kube_api, namespace):
    from kubernetes import client

    pods = client.CoreV1Api(kube_api).list_namespaced_pod(namespace, label_selector="component=hub").items
    live = [p for p in pods if not p.metadata.deletion_timestamp]
    return live[0] if len(live) == 1 else None


def _pod_logs(kubelet, namespace) -> list[str]:
    """The whole log of each hub pod the kubelet ran in `namespace`."""
    return [path.read_text() for path in sorted(kubelet.workdir.glob(f"{namespace}_*/hub.log"))]


def _answers(kube_cluster, namespace, token) -> str:
    """Who the hub behind the Service says the token is (waits for the hub to answer)."""
    api = ServiceHubApi(str(kube_cluster.kubeconfig), namespace, token)

    def who():
        try:
            return api.check_token()["name"]
        except HubApiError:
            return None

    return wait_for(who, 60, f"the hub in {namespace} to answer", interval=0.3)


def test_the_health_check_reaches_the_hub_that_was_deployed(
    fleet_repo_factory, hub_kubelet, cluster_hub_api, age_key, kube_cluster, kube_api
):
    token = secrets.token_hex(16)  # only this fleet's hub knows it
    repo = fleet_repo_factory(hubs=("prod",), token=token)
    settings = DeploySettings(**{**SETTINGS.__dict__, "start_server": True})
    with hub_kubelet(repo) as kubelet, deployer_for(repo, age_key, cluster_hub_api(repo), settings) as (f, _, d):
        release = hub_release(f, f.hub("alpha/prod"))
        result = d.deploy(release, health=True)
        assert result.status == "deployed", kubelet.logs(release.namespace)
        assert "server of hub-ops-health started" in result.health and result.health.startswith("JupyterHub 6.")

        # the hub that answered runs in the hub pod, at the address the Service's endpoints give
        pod = _hub_pod(kube_api, release.namespace)
        address = service_endpoint(kube_api, release.namespace, PUBLIC_SERVICE, PUBLIC_PORT)
        assert address == (pod.status.pod_ip, 8000)
        local = kubelet.pod(release.namespace, pod.metadata.name)
        assert local.ip == pod.status.pod_ip and local.containers[0].proc.poll() is None
        assert "jupyterhub" in local.containers[0].plan.argv[0]
        log = kubelet.logs(release.namespace, tail=None)
        assert "Adding external service hub-ops" in log and "hub-ops-health" in log
        assert _answers(kube_cluster, release.namespace, token) == "hub-ops"
        with pytest.raises(HubApiError) as refused:
            ServiceHubApi(str(kube_cluster.kubeconfig), release.namespace, "not-the-token").check_token()
        assert refused.value.status == 403


def test_a_bad_authenticator_class_fails_readiness_and_the_previous_hub_answers_again(
    fleet_repo_factory, hub_kubelet, cluster_hub_api, age_key, kube_cluster, kube_api
):
    token = secrets.token_hex(16)
    repo = fleet_repo_factory(hubs=("prod",), token=token)
    with hub_kubelet(repo) as kubelet, deployer_for(repo, age_key, cluster_hub_api(repo)) as (fleet, helm, deployer):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        first = deployer.deploy(release, health=True)
        assert (first.status, first.revision) == ("deployed", 1), kubelet.logs(release.namespace)
        serving = _hub_pod(kube_api, release.namespace)

        _hub_config(repo, "prod", authenticator_class=BAD_AUTHENTICATOR)
        deployer.fleet = fleet = load_fleet(repo.root)
        with pytest.raises(DeployFailed) as failed:
            deployer.deploy(hub_release(fleet, fleet.hub("alpha/prod")), health=True)

        assert failed.value.result.status == "rolled back", kubelet.logs(release.namespace)
        assert "not ready after 30 s" in str(failed.value)
        assert "rolled back to revision 1 (now revision 3)" in str(failed.value)
        # the broken hub really ran, crashed with its own error and was started again
        crashed = [log for log in _pod_logs(kubelet, release.namespace) if BAD_AUTHENTICATOR in log]
        assert len(crashed) == 1 and f"'{BAD_AUTHENTICATOR}' could not be imported" in crashed[0]
        assert crashed[0].count("--- start jupyterhub") >= 2
        # revision 3 has revision 1's config: its hub (a new pod) answers through the Service again
        assert _answers(kube_cluster, release.namespace, token) == "hub-ops"
        again = _hub_pod(kube_api, release.namespace)
        assert again.metadata.uid != serving.metadata.uid
        assert helm.get_values("prod", release.namespace)["jupyterhub"]["singleuser"] == {"defaultUrl": "/lab"}


def test_deploy_job_rolls_back_a_hub_whose_proxy_port_clashes_with_the_hub(
    fleet_repo_factory, hub_kubelet, deploy_resources, age_key, kube_cluster, kube_api
):
    token = secrets.token_hex(16)
    repo = fleet_repo_factory(hubs=("prod",), token=token)
    resources = deploy_resources(repo, real_hubs=True)
    config = {"hubs": ["alpha/prod"], "dry_run": False, "ready_timeout_s": 30, "health_timeout_s": 30}
    namespace = repo.namespace("alpha", "prod")

    def run(instance):
        return deploy_job.execute_in_process(
            run_config={"ops": {"plan_deploy": {"config": config}}},
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )

    with hub_kubelet(repo) as kubelet, dg.instance_for_test() as instance:
        assert run(instance).success, kubelet.logs(namespace)
        assert _answers(kube_cluster, namespace, token) == "hub-ops"

        _hub_config(repo, "prod", port=8081)  # the proxy's public port is the hub's own port
        repo.commit("prod: proxy on port 8081")
        result = run(instance)

        assert not result.success
        errors = " ".join(
            str(e.event_specific_data.error.message) for e in result.all_events if e.event_type_value == "STEP_FAILURE"
        )
        assert "alpha/prod" in errors and "rolled back to revision 1" in errors, errors
        assert "Address already in use" in kubelet.logs(namespace, tail=None)
        assert _answers(kube_cluster, namespace, token) == "hub-ops"
        helm = HelmClient(
            cluster_access(load_fleet(repo.root), load_fleet(repo.root).clusters["alpha"], Sops(str(age_key.path)))
        )
        try:
            history = helm.history("prod", namespace)
            assert [h.status for h in history][-1] == "deployed" and len(history) == 3
            assert "port" not in helm.get_values("prod", namespace)["jupyterhub"]["hub"]["config"]["JupyterHub"]
        finally:
            helm.close()
