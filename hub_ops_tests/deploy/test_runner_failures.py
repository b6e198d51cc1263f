"""Every failure once an upgrade began ends with the release at its last deployed revision:
the API server rejecting one object of several mid-apply, a token that stops being accepted
mid-step, a readiness timeout of a first install. Against the local kube-apiserver."""

import threading

import pytest
from kubernetes import client

from hub_ops.clients.helm import HelmClient
from hub_ops.clients.kube import ClusterAccess, KubeClient, RefreshingToken
from hub_ops.clients.sops import Sops
from hub_ops.deploy.releases import PreparedCharts, hub_release
from hub_ops.deploy.runner import DeployFailed, DeploySettings, ReleaseDeployer
from hub_ops.fleet import load_fleet
from hub_ops_tests.deploy.test_runner import deployer_for
from hub_ops_tests.deploy.token_issuer import TokenIssuer


def configmap(kube_cluster, namespace: str) -> dict:
    return client.CoreV1Api(kube_cluster.api_client()).read_namespaced_config_map("hub", namespace).data


def test_an_object_the_api_server_rejects_mid_apply_is_rolled_back(
    fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server, kube_cluster
):
    repo = fleet_repo_factory(hubs=("prod",))
    with auto_kubelet(repo), deployer_for(repo, age_key, jupyterhub_server.api_url) as (fleet, helm, deployer):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        assert deployer.deploy(release, health=False).revision == 1
        before = configmap(kube_cluster, release.namespace)
        # renders offline; the API server accepts the ConfigMap and the hub Service, then
        # rejects the proxy Service (no such Service type): helm stops part-way
        repo.write_yaml(
            "clusters/alpha/prod.values.yaml",
            {
                "jupyterhub": {
                    "hub": {"config": {"JupyterHub": {"admin_users": ["ada"]}}},
                    "proxy": {"service": {"type": "Bogus"}},
                }
            },
        )
        deployer.fleet = load_fleet(repo.root)
        with pytest.raises(DeployFailed) as err:
            deployer.deploy(hub_release(deployer.fleet, fleet.hub("alpha/prod")), health=False)
        message = str(err.value)
        assert "helm upgrade" in message and 'Unsupported value: "Bogus"' in message, message
        assert "rolled back to revision 1" in message and err.value.result.status == "rolled back"
        latest = helm.current("prod", release.namespace)
        assert (
            latest.status == "deployed" and [h.status for h in helm.history("prod", release.namespace)][1] == "failed"
        )
        assert configmap(kube_cluster, release.namespace) == before  # the half-applied ConfigMap is back
        assert "admin_users" not in str(helm.get_values("prod", release.namespace))


def test_a_first_install_rejected_mid_apply_is_removed(fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server):
    repo = fleet_repo_factory(hubs=("prod",))
    repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"proxy": {"service": {"type": "Bogus"}}}})
    with auto_kubelet(repo), deployer_for(repo, age_key, jupyterhub_server.api_url) as (fleet, helm, deployer):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        with pytest.raises(DeployFailed, match="first install removed"):
            deployer.deploy(release, health=False)
        assert helm.current("prod", release.namespace) is None


def test_a_token_refused_mid_step_fails_the_step_and_the_rollback_uses_a_new_one(
    fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server, kube_cluster, kube_namespace
):
    """The token is revoked while the deploy waits for readiness: the API answers 401, the
    step fails with that text, and the rollback asks the provider again (a new token)."""
    repo = fleet_repo_factory(hubs=("prod",))
    issuer = TokenIssuer(kube_cluster.api_client(), kube_namespace)
    access = ClusterAccess(
        server=kube_cluster.server_url,
        ca_pem=(kube_cluster.pki / "ca.crt").read_text(),
        tokens=RefreshingToken(lambda: (issuer.issue(), None)),  # tokens without a stated end
    )
    fleet = load_fleet(repo.root)
    helm = HelmClient(access)
    lines: list[str] = []
    settings = DeploySettings(ready_timeout=20, poll=0.2, lease_wait=3)
    with auto_kubelet(repo) as kubelet, PreparedCharts(fleet) as charts:
        deployer = ReleaseDeployer(
            fleet,
            charts,
            Sops(str(age_key.path)),
            helm=helm,
            kube=KubeClient(access, "alpha"),
            settings=settings,
            log=lines.append,
        )
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        assert deployer.deploy(release, health=False).revision == 1
        kubelet.held.add(release.namespace)  # the new revision (a new hub pod) waits for readiness...
        repo.write_yaml(
            "clusters/alpha/prod.values.yaml",
            {"jupyterhub": {"hub": {"config": {"JupyterHub": {"admin_users": ["ada"]}}}}},
        )
        deployer.fleet = load_fleet(repo.root)

        def revoke_when_waiting():  # ...and the token in use is revoked during that wait
            while not any("helm revision 2" in line for line in lines):
                threading.Event().wait(0.05)
            issuer.revoke(access.bearer_token())

        revoker = threading.Thread(target=revoke_when_waiting, daemon=True)
        revoker.start()
        with pytest.raises(DeployFailed) as err:
            deployer.deploy(hub_release(deployer.fleet, fleet.hub("alpha/prod")), health=False)
        revoker.join(5)
        message = str(err.value)
        assert "Kubernetes API answered 401 Unauthorized" in message, message
        assert "rolled back to revision 1 (now revision 3)" in message
        assert helm.current("prod", release.namespace).status == "deployed"
        assert "admin_users" not in str(helm.get_values("prod", release.namespace))  # revision 1's values
        assert len(issuer.issued) >= 2 and issuer.revoked(issuer.issued[0].token)
        for issued in issuer.issued:
            assert issued.token not in message
    helm.close()
    issuer.stop()


def test_a_readiness_timeout_of_an_upgrade_rolls_back_under_the_hub_lease(
    fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server
):
    repo = fleet_repo_factory(hubs=("prod",))
    lines: list[str] = []
    with (
        auto_kubelet(repo) as kubelet,
        deployer_for(repo, age_key, jupyterhub_server.api_url, DeploySettings(ready_timeout=2, poll=0.2)) as (
            fleet,
            helm,
            deployer,
        ),
    ):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        assert deployer.deploy(release, health=False).revision == 1
        kubelet.held.add(release.namespace)
        repo.write_yaml(
            "clusters/alpha/prod.values.yaml",
            {"jupyterhub": {"hub": {"config": {"JupyterHub": {"admin_users": ["ada"]}}}}},
        )
        deployer.fleet = load_fleet(repo.root)
        from hub_ops.clients.leases import LEASE_NAMESPACE, hub_lease_name

        holders = []

        def watch_holder(message: str) -> None:
            lines.append(message)
            holders.append(deployer.kube.lease_holder(LEASE_NAMESPACE, hub_lease_name(release.namespace)))

        deployer.log = watch_holder
        with pytest.raises(DeployFailed, match="not ready after 2 s") as err:
            deployer.deploy(hub_release(deployer.fleet, fleet.hub("alpha/prod")), health=False, holder="deploy run-1")
        assert "rolled back to revision 1" in str(err.value)
        assert holders and set(holders) == {"deploy run-1"}  # held at every logged phase
        assert deployer.kube.lease_holder(LEASE_NAMESPACE, hub_lease_name(release.namespace)) is None  # given back
