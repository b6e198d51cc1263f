"""One change to a hub at a time: a deploy holds the hub's Lease (kube-system) from its
in-sync check through its rollback, so concurrent deploys never leave a mix, and a restore
or decommission holding the Lease keeps deploys out. Against the local kube-apiserver."""

import dataclasses
import threading

import pytest

from hub_ops.clients.kube import KubeClient
from hub_ops.clients.leases import HeldLease, hub_lease_name
from hub_ops.deploy.releases import hub_release
from hub_ops.deploy.runner import DeployFailed, DeploySettings
from hub_ops_tests.deploy.test_runner import deployer_for

SETTINGS = DeploySettings(
    ready_timeout=20, health_timeout=20, poll=0.2, lease_ttl=15, lease_wait=60, start_server=False
)


def test_two_concurrent_deploys_of_one_hub_end_as_one_of_them_never_a_mix(
    fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server
):
    """A deploys values whose health check fails (a token the hub refuses) and rolls back;
    B, started while A is under way, deploys other values that are healthy. Whatever the
    interleaving, the release ends as B's values, complete, and B waited for A's Lease."""
    repo = fleet_repo_factory(hubs=("prod",))
    repo.write_secret(
        "clusters/alpha/enc-prod-a.secret.values.yaml",
        {"jupyterhub": {"hub": {"services": {"hub-ops": {"apiToken": "a-token-the-hub-refuses"}}}}},
    )
    repo.write_yaml("clusters/alpha/prod-b.values.yaml", {"jupyterhub": {"singleuser": {"defaultUrl": "/tree"}}})
    logs: dict[str, list[str]] = {"A": [], "B": []}
    outcome: dict[str, object] = {}
    with (
        auto_kubelet(repo),
        deployer_for(repo, age_key, jupyterhub_server.api_url, SETTINGS) as (fleet, helm, deployer_a),
        deployer_for(repo, age_key, jupyterhub_server.api_url, SETTINGS) as (_, _, deployer_b),
    ):
        base = hub_release(fleet, fleet.hub("alpha/prod"))
        assert deployer_a.deploy(base, health=True).revision == 1
        clusters = repo.root / "clusters" / "alpha"
        release_a = dataclasses.replace(
            base, values_files=base.values_files + (clusters / "enc-prod-a.secret.values.yaml",)
        )
        release_b = dataclasses.replace(base, values_files=base.values_files + (clusters / "prod-b.values.yaml",))
        deployer_a.log, deployer_b.log = logs["A"].append, logs["B"].append
        upgraded = threading.Event()
        deployer_a.log = lambda m: (logs["A"].append(m), "helm revision" in m and upgraded.set())

        def run(name, deployer, release):
            try:
                outcome[name] = deployer.deploy(release, health=True, holder=f"deploy run-{name}")
            except DeployFailed as e:
                outcome[name] = e

        a = threading.Thread(target=run, args=("A", deployer_a, release_a))
        b = threading.Thread(target=run, args=("B", deployer_b, release_b))
        a.start()
        assert upgraded.wait(30), logs
        b.start()
        a.join(60)
        b.join(60)

        assert isinstance(outcome["A"], DeployFailed) and outcome["A"].result.status == "rolled back", outcome
        assert not isinstance(outcome["B"], DeployFailed), outcome["B"]
        assert outcome["B"].status == "deployed"
        assert any(
            "held by 'deploy run-A'" in line and line.startswith("alpha/prod: waiting for") for line in logs["B"]
        )
        live = helm.get_values("prod", base.namespace)["jupyterhub"]
        assert live["singleuser"]["defaultUrl"] == "/tree"  # B's values, complete
        assert live["hub"]["services"]["hub-ops"]["apiToken"] == jupyterhub_server.api_token
        assert helm.current("prod", base.namespace).revision == outcome["B"].revision


def test_a_hub_lease_held_by_a_restore_keeps_deploys_out(fleet_repo_factory, auto_kubelet, age_key, jupyterhub_server):
    repo = fleet_repo_factory(hubs=("prod",))
    settings = dataclasses.replace(SETTINGS, lease_wait=2)
    lines: list[str] = []
    with (
        auto_kubelet(repo),
        deployer_for(repo, age_key, jupyterhub_server.api_url, settings) as (fleet, helm, deployer),
    ):
        release = hub_release(fleet, fleet.hub("alpha/prod"))
        deployer.log = lines.append
        restore_kube = KubeClient(deployer.kube.access, "alpha")
        with HeldLease(restore_kube, hub_lease_name(release.namespace), "restore alpha/prod", ttl=30):
            with pytest.raises(DeployFailed) as err:
                deployer.deploy(release, health=False, holder="deploy run-1")
        assert "held by 'restore alpha/prod'" in str(err.value) and err.value.result.status == "failed"
        assert any("held by 'restore alpha/prod'" in line for line in lines)
        assert helm.current("prod", release.namespace) is None  # nothing was deployed

        # a restore that ends while the deploy waits: the deploy goes ahead after it
        deployer.settings = dataclasses.replace(settings, lease_wait=30)
        restore = HeldLease(restore_kube, hub_lease_name(release.namespace), "restore alpha/prod", ttl=30)
        restore.__enter__()
        mark = len(lines)
        timer = threading.Timer(1.5, restore.__exit__, args=(None, None, None))
        timer.start()
        assert deployer.deploy(release, health=False, holder="deploy run-2").status == "deployed"
        timer.join()
        assert any("held by 'restore alpha/prod'" in line for line in lines[mark:])  # it waited, and said for whom
