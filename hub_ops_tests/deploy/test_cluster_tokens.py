"""Cluster tokens are asked for again before they expire, for any token provider (a
TokenSource): a step longer than a token's life keeps working, against the real local
kube-apiserver whose tokens really expire (revoked when their stated life ends)."""

import threading
import time

from hub_ops.clients.helm import HelmClient
from hub_ops.clients.kube import ClusterAccess, KubeClient, RefreshingToken
from hub_ops.clients.sops import Sops
from hub_ops.deploy.releases import PreparedCharts, hub_release
from hub_ops.deploy.runner import DeploySettings, ReleaseDeployer
from hub_ops.fleet import load_fleet
from hub_ops_tests.deploy.token_issuer import TokenIssuer


def refreshing_access(kube_cluster, issuer: TokenIssuer, life: float) -> ClusterAccess:
    return ClusterAccess(
        server=kube_cluster.server_url,
        ca_pem=(kube_cluster.pki / "ca.crt").read_text(),
        tokens=RefreshingToken(issuer.source(life)),
    )


def test_calls_for_longer_than_a_token_life_use_new_tokens(kube_cluster, kube_namespace):
    issuer = TokenIssuer(kube_cluster.api_client(), kube_namespace)
    kube = KubeClient(refreshing_access(kube_cluster, issuer, life=2.0), "alpha")
    calls: list[float] = []
    start = time.monotonic()
    while time.monotonic() - start < 7:
        assert kube.server_version().startswith("v1.20.")  # a 401 here would raise
        assert kube.namespace_exists(kube_namespace)
        calls.append(time.monotonic())
        time.sleep(0.1)
    issuer.stop()
    # each token is revoked by the apiserver side when its life ends, so every call after
    # the first token's end succeeded with a later token, and none sent an expired one
    assert len(issuer.issued) >= 3
    assert issuer.revoked(issuer.issued[0].token)
    assert sum(1 for t in calls if t - start > 2.5) > 10


def test_a_deploy_longer_than_a_token_life(fleet_repo_factory, auto_kubelet, age_key, kube_cluster, kube_namespace):
    """Readiness takes longer than a token lives: the deploy, helm included, keeps going on
    new tokens, and a later upgrade (helm with a Config made for the new token) works too."""
    repo = fleet_repo_factory(hubs=("prod",))
    issuer = TokenIssuer(kube_cluster.api_client(), kube_namespace)
    access = refreshing_access(kube_cluster, issuer, life=2.0)
    fleet = load_fleet(repo.root)
    helm = HelmClient(access)
    settings = DeploySettings(ready_timeout=30, poll=0.2, lease_ttl=6, lease_wait=5)
    with auto_kubelet(repo) as kubelet, PreparedCharts(fleet) as charts:
        deployer = ReleaseDeployer(
            fleet, charts, Sops(str(age_key.path)), helm=helm, kube=KubeClient(access, "alpha"), settings=settings
        )
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        kubelet.held.add(release.namespace)
        threading.Timer(5, kubelet.held.discard, args=(release.namespace,)).start()
        start = time.monotonic()
        result = deployer.deploy(release, health=False)
        assert result.status == "deployed" and time.monotonic() - start > 4
        issued_during_first = len(issuer.issued)
        assert issued_during_first >= 2
        time.sleep(2.5)  # the token helm's Config holds is revoked now
        repo.write_yaml("clusters/alpha/prod.values.yaml", {"jupyterhub": {"singleuser": {"defaultUrl": "/tree"}}})
        deployer.fleet = load_fleet(repo.root)
        second = deployer.deploy(hub_release(deployer.fleet, fleet.hub("alpha/prod")), health=False)
        assert (second.status, second.revision) == ("deployed", 2)
        assert len(issuer.issued) > issued_during_first
    helm.close()
    issuer.stop()
