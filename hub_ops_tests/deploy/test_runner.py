"""ReleaseDeployer against the local kube-apiserver (helm through helm-python-sdk) and the
local JupyterHub: upgrade, in-sync skips, readiness and health failures rolled back."""

from contextlib import contextmanager

import pytest
import yaml

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.helm import HelmClient
from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.kube import KubeClient
from hub_ops.clients.leases import LEASE_NAMESPACE, hub_lease_name
from hub_ops.clients.sops import Sops
from hub_ops.deploy.releases import PreparedCharts, hub_release, support_release
from hub_ops.deploy.runner import DeployFailed, DeploySettings, ReleaseDeployer
from hub_ops.fleet import load_fleet

FAST = DeploySettings(ready_timeout=20, health_timeout=30, poll=0.2, lease_wait=3)


@contextmanager
def deployer_for(repo, age_key, hub_api_url, settings=FAST, cluster="alpha"):
    fleet = load_fleet(repo.root)
    sops = Sops(str(age_key.path))
    access = cluster_access(fleet, fleet.clusters[cluster], sops)
    helm = HelmClient(access)
    with PreparedCharts(fleet) as charts:
        yield (
            fleet,
            helm,
            ReleaseDeployer(
                fleet,
                charts,
                sops,
                helm=helm,
                kube=KubeClient(access, cluster),
                hub_api=lambda release, token: HubApi(hub_api_url, token),
                settings=settings,
            ),
        )
    helm.close()


def test_install_then_in_sync_then_upgrade(fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server):
    repo = fleet_repo_factory(hubs=("prod",))
    with auto_kubelet(repo), deployer_for(repo, age_key, jupyterhub_server.api_url) as (fleet, helm, deployer):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        first = deployer.deploy(release, git_sha="abc", health=True)
        assert (first.status, first.revision, first.previous_revision) == ("deployed", 1, None)
        assert first.health.startswith("JupyterHub 6.") and "server of hub-ops-health started" in first.health
        again = deployer.deploy(release, health=False)
        assert (again.status, again.revision) == ("unchanged", 1)
        assert len(helm.history("prod", release.namespace)) == 1  # nothing deployed twice

        repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"singleuser": {"defaultUrl": "/tree"}}})
        fleet = load_fleet(repo.root)
        deployer.fleet = fleet
        second = deployer.deploy(hub_release(fleet, fleet.hub("alpha/prod")), health=False)
        assert (second.status, second.revision, second.previous_revision) == ("deployed", 2, 1)
        assert second.values_digest != first.values_digest
        assert helm.get_values("prod", release.namespace)["jupyterhub"]["singleuser"]["defaultUrl"] == "/tree"


def test_never_ready_rolls_back_to_the_serving_revision(fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server):
    repo = fleet_repo_factory(hubs=("prod",))
    with (
        auto_kubelet(repo) as kubelet,
        deployer_for(repo, age_key, jupyterhub_server.api_url, DeploySettings(ready_timeout=3, poll=0.2)) as (
            fleet,
            helm,
            deployer,
        ),
    ):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        assert deployer.deploy(release, health=False).revision == 1
        kubelet.held.add(release.namespace)  # the new pods never become ready
        repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"hub": {"image": {"tag": "broken"}}}})
        fleet = load_fleet(repo.root)
        deployer.fleet = fleet
        with pytest.raises(DeployFailed) as err:
            deployer.deploy(hub_release(fleet, fleet.hub("alpha/prod")), health=False)
        assert err.value.result.status == "rolled back"
        assert "not ready after 3 s: deployment" in str(
            err.value
        ) and "rolled back to revision 1 (now revision 3)" in str(err.value)
        history = helm.history("prod", release.namespace)
        assert [(h.revision, h.status) for h in history][-1] == (3, "deployed")
        assert helm.get_values("prod", release.namespace)["jupyterhub"]["hub"]["services"]["hub-ops"]["apiToken"]
        assert "image" not in helm.get_values("prod", release.namespace)["jupyterhub"]["hub"]  # revision 1's values


def test_failed_first_install_is_removed(fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server):
    repo = fleet_repo_factory(hubs=("prod",))
    with (
        auto_kubelet(repo) as kubelet,
        deployer_for(repo, age_key, jupyterhub_server.api_url, DeploySettings(ready_timeout=2, poll=0.2)) as (
            fleet,
            helm,
            deployer,
        ),
    ):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        kubelet.held.add(release.namespace)
        with pytest.raises(DeployFailed, match="first install removed"):
            deployer.deploy(release, health=False)
        assert helm.current("prod", release.namespace) is None


def test_health_failure_has_the_hubs_own_text_and_rolls_back(
    fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server
):
    repo = fleet_repo_factory(hubs=("prod",), token="not-the-hubs-token")
    with auto_kubelet(repo), deployer_for(repo, age_key, jupyterhub_server.api_url) as (fleet, helm, deployer):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        with pytest.raises(DeployFailed) as err:
            deployer.deploy(release, health=True)
        message = str(err.value)
        assert "/hub/api/user: 403" in message and "first install removed" in message
        assert "not-the-hubs-token" not in message  # the token is a secret: redacted everywhere
        assert err.value.result.health == "failed"
        assert helm.current("prod", release.namespace) is None


def test_bad_values_and_render_errors_touch_nothing(fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server):
    repo = fleet_repo_factory(hubs=("prod",))
    with auto_kubelet(repo), deployer_for(repo, age_key, jupyterhub_server.api_url) as (fleet, helm, deployer):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        assert deployer.deploy(release, health=False).revision == 1
        cases = {
            # invalid YAML in a values file
            "clusters/alpha/prod.values.yaml": (
                "jupyterhub: [unclosed\n",
                "clusters/alpha/prod.values.yaml:2: invalid YAML",
            ),
            # a values file that breaks the chart
            "clusters/alpha/common.values.yaml": (
                yaml.safe_dump({"jupyterhub": {"hub": {"replicas": "many"}}}),
                "helm",
            ),
        }
        for path, (text, expected) in cases.items():
            original = (repo.root / path).read_text()
            (repo.root / path).write_text(text)
            with pytest.raises(DeployFailed) as err:
                deployer.deploy(
                    hub_release(load_fleet(repo.root, check_files=False), fleet.hub("alpha/prod")), health=False
                )
            assert expected in str(err.value) and err.value.result.status == "failed"
            (repo.root / path).write_text(original)
        # a missing secret key: the token removed from the hub's sops file
        repo.write_secret(
            "clusters/alpha/enc-prod.secret.values.yaml", {"jupyterhub": {"hub": {"services": {"hub-ops": {}}}}}
        )
        with pytest.raises(DeployFailed, match="jupyterhub.hub.services.hub-ops.apiToken is required"):
            deployer.deploy(release, health=False)
        assert [h.revision for h in helm.history("prod", release.namespace)] == [1]


def test_support_release_waits_for_its_workloads(fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server):
    repo = fleet_repo_factory(hubs=())
    with auto_kubelet(repo), deployer_for(repo, age_key, jupyterhub_server.api_url) as (fleet, helm, deployer):
        result = deployer.deploy(support_release(fleet, "alpha"))
        assert (result.status, result.health) == ("deployed", "workloads available")
        assert helm.current("support", repo.namespace("alpha", "support")).status == "deployed"


def test_a_held_lease_makes_a_second_deploy_wait_then_give_up(
    fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server
):
    repo = fleet_repo_factory(hubs=("prod",))
    with auto_kubelet(repo), deployer_for(repo, age_key, jupyterhub_server.api_url) as (fleet, helm, deployer):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        lease = hub_lease_name(release.namespace)
        assert deployer.kube.acquire_lease(LEASE_NAMESPACE, lease, "another-run", 600)
        with pytest.raises(DeployFailed, match=f"kube-system/{lease} is held by 'another-run'; waited 3 s"):
            deployer.deploy(release, health=False, holder="this-run")
        assert helm.current("prod", release.namespace) is None
        deployer.kube.release_lease(LEASE_NAMESPACE, lease, "another-run")
        assert deployer.deploy(release, health=False, holder="this-run").status == "deployed"
