"""Helm (the v4 SDK in-process, helm-python-sdk) against the local kube-apiserver,
with the example fleet's own basehub chart."""

from __future__ import annotations

import base64

import helm_python
import pytest
import yaml
from kubernetes import client

from hub_ops_tests.conftest import EXAMPLE_FLEET

BASEHUB = EXAMPLE_FLEET / "charts" / "basehub"


def _values(replicas: int, token: str = "test-token-not-secret") -> dict:
    return {"jupyterhub": {"hub": {"replicas": replicas, "services": {"hub-ops": {"apiToken": token}}}}}


def test_install_upgrade_rollback_history_uninstall(helm_config, kube_api, kube_namespace, kubelet):
    apps, core = client.AppsV1Api(kube_api), client.CoreV1Api(kube_api)

    installed = helm_config.install(str(BASEHUB), "staging", _values(1))
    assert (installed["revision"], installed["status"]) == (1, "deployed")
    hub = apps.read_namespaced_deployment("hub", kube_namespace)
    assert hub.spec.replicas == 1
    secret = core.read_namespaced_secret("hub", kube_namespace)
    assert base64.b64decode(secret.data["services.hub-ops.apiToken"]) == b"test-token-not-secret"
    assert kubelet.make_deployment_available("hub", kube_namespace).status.available_replicas == 1

    upgraded = helm_config.upgrade(str(BASEHUB), "staging", _values(2, token="rotated"))
    assert (upgraded["revision"], upgraded["status"]) == (2, "deployed")
    assert apps.read_namespaced_deployment("hub", kube_namespace).spec.replicas == 2

    helm_config.rollback("staging", version=1)
    assert apps.read_namespaced_deployment("hub", kube_namespace).spec.replicas == 1
    secret = core.read_namespaced_secret("hub", kube_namespace)
    assert base64.b64decode(secret.data["services.hub-ops.apiToken"]) == b"test-token-not-secret"

    history = helm_config.history("staging")
    assert [(r["revision"], r["status"]) for r in history] == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert helm_config.get_values("staging")["jupyterhub"]["hub"]["replicas"] == 1

    uninstalled = helm_config.uninstall("staging")
    assert uninstalled["release"]["status"] == "uninstalled"
    assert "home-nfs" in uninstalled["info"]
    assert not apps.list_namespaced_deployment(kube_namespace).items
    # the home PVC carries helm.sh/resource-policy: keep, so user data outlives the release
    assert [p.metadata.name for p in core.list_namespaced_persistent_volume_claim(kube_namespace).items] == ["home-nfs"]
    assert helm_config.list() == []


def test_missing_api_token_fails_before_touching_the_cluster(helm_config, kube_api, kube_namespace):
    values = {"jupyterhub": {"hub": {"services": {"hub-ops": {}}}}}
    with pytest.raises(helm_python.HelmError, match=r"jupyterhub\.hub\.services\.hub-ops\.apiToken is required"):
        helm_config.install(str(BASEHUB), "broken", values)
    assert not client.AppsV1Api(kube_api).list_namespaced_deployment(kube_namespace).items
    assert helm_config.list(all_states=True) == []


@pytest.mark.parametrize("chart", ["basehub", "daskhub"])
def test_every_port_names_its_protocol(chart):
    """Helm 4 applies server-side; the local 1.20 apiserver then rejects a Service or
    container port without an explicit protocol (see the install test above)."""
    values = _values(1)
    rendered = helm_python.Chart.load(EXAMPLE_FLEET / "charts" / chart).render(
        {**values, "basehub": values}, name="x", namespace="x"
    )
    ports = []
    for doc in (d for text in rendered.values() for d in yaml.safe_load_all(text) if d):
        if doc["kind"] == "Service":
            ports += doc["spec"]["ports"]
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            ports += [p for c in doc["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
    assert ports, f"{chart} renders no ports"
    assert [p for p in ports if "protocol" not in p] == []
