"""The stand-in kubelet that runs pods as local processes, against the real controllers:
env and files as a kubelet resolves them, Ready only when the readinessProbe answers, the
Service's EndpointSlice pointing at the process, restarts with CrashLoopBackOff, and a
rollout or a deletion stopping the process."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from hub_ops_dev.stack.kube import wait_for
from hub_ops_dev.stack.pod_runtime import LocalImage
from hub_ops_dev.stack.process_kubelet import ProcessKubelet
from hub_ops_dev.stack.services import service_endpoint

IMAGE = "local.test/python:3"
# A small app, shipped in a ConfigMap like a chart's config file: it answers /ready and
# /info (its env and the secret file it was pointed at) on the pod's address.
APP = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/ready":
            body, code = b"ok", 200
        elif self.path == "/info":
            names = ("GREETING", "POD_NAME", "POD_IP", "TOKEN", "MODE", "CFG_MODE", "TOKEN_FILE")
            info = {"env": {k: os.environ.get(k) for k in names}, "argv": sys.argv, "cwd": os.getcwd()}
            info["token_file"] = open(os.environ["TOKEN_FILE"]).read()
            info["path_has_home"] = "HUB_OPS_SECRET_OF_THE_TEST_PROCESS" in os.environ
            body, code = json.dumps(info).encode(), 200
        else:
            body, code = b"no", 503
        self.send_response(code)
        self.end_headers()
        self.wfile.write(body)

HTTPServer((os.environ["POD_IP"], int(sys.argv[1])), Handler).serve_forever()
"""


def _deployment(name: str, command: list[str], ready_path: str = "/ready") -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(
        name="app",
        image=IMAGE,
        command=command,
        env=[
            client.V1EnvVar(
                name="POD_NAME",
                value_from=client.V1EnvVarSource(field_ref=client.V1ObjectFieldSelector(field_path="metadata.name")),
            ),
            client.V1EnvVar(
                name="POD_IP",
                value_from=client.V1EnvVarSource(field_ref=client.V1ObjectFieldSelector(field_path="status.podIP")),
            ),
            client.V1EnvVar(name="GREETING", value="hello $(POD_NAME)"),
            client.V1EnvVar(
                name="TOKEN",
                value_from=client.V1EnvVarSource(secret_key_ref=client.V1SecretKeySelector(name="app", key="token")),
            ),
            client.V1EnvVar(name="TOKEN_FILE", value="/etc/app/secret/token"),
        ],
        env_from=[client.V1EnvFromSource(config_map_ref=client.V1ConfigMapEnvSource(name="app"), prefix="CFG_")],
        ports=[client.V1ContainerPort(name="http", container_port=8080, protocol="TCP")],
        readiness_probe=client.V1Probe(http_get=client.V1HTTPGetAction(path=ready_path, port="http"), period_seconds=1),
        volume_mounts=[
            client.V1VolumeMount(name="code", mount_path="/opt/app"),
            client.V1VolumeMount(name="secret", mount_path="/etc/app/secret"),
        ],
    )
    spec = client.V1PodSpec(
        containers=[container],
        termination_grace_period_seconds=5,
        volumes=[
            client.V1Volume(name="code", config_map=client.V1ConfigMapVolumeSource(name="app")),
            client.V1Volume(name="secret", secret=client.V1SecretVolumeSource(secret_name="app")),
        ],
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            strategy=client.V1DeploymentStrategy(type="Recreate"),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=spec),
        ),
    )


def _service(name: str) -> client.V1Service:
    port = client.V1ServicePort(name="web", port=80, target_port="http", protocol="TCP")
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name), spec=client.V1ServiceSpec(selector={"app": name}, ports=[port])
    )


@pytest.fixture
def app_objects(kube_api, kube_namespace):
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_config_map(
        kube_namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="app"), data={"server.py": APP, "MODE": "test"}),
    )
    return core


@pytest.fixture
def process_kubelet(kube_api, kube_namespace, tmp_path: Path, monkeypatch):
    # a secret of the test process that no container may see
    monkeypatch.setenv("HUB_OPS_SECRET_OF_THE_TEST_PROCESS", "x")
    image = LocalImage(path=(str(Path(sys.executable).parent),))
    with ProcessKubelet(kube_api, lambda ns: ns == kube_namespace, tmp_path / "kubelet", {IMAGE: image}) as kubelet:
        yield kubelet


def _pod(core, namespace, app) -> client.V1Pod | None:
    pods = [
        p
        for p in core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
        if not p.metadata.deletion_timestamp
    ]
    return pods[0] if len(pods) == 1 else None


def _ready(pod: client.V1Pod | None) -> bool:
    return bool(pod) and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_deployment_runs_as_a_process_ready_only_when_its_probe_answers(
    kube_api, kube_namespace, app_objects, process_kubelet
):
    core, apps = app_objects, client.AppsV1Api(kube_api)
    core.create_namespaced_secret(
        kube_namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="app"), string_data={"token": "s3cret"})
    )
    core.create_namespaced_service(kube_namespace, _service("web"))
    # the probe asks a path the app refuses: the process runs, the pod is never Ready
    apps.create_namespaced_deployment(
        kube_namespace, _deployment("web", ["python3", "/opt/app/server.py", "8080"], ready_path="/nope")
    )
    first = wait_for(
        lambda: (p := _pod(core, kube_namespace, "web")) and process_kubelet.pod(kube_namespace, p.metadata.name) and p,
        60,
        "the first pod to run",
    )
    local = process_kubelet.pod(kube_namespace, first.metadata.name)
    first_pid = wait_for(lambda: local.containers[0].proc and local.containers[0].proc.pid, 30, "its process")
    wait_for(lambda: process_kubelet.logs(kube_namespace).count("start ") >= 1, 10, "the container log")
    wait_for(lambda: (p := _pod(core, kube_namespace, "web")) and p.status.phase == "Running", 30, "phase Running")
    direct = f"http://{local.ip}:8080/info"
    wait_for(lambda: _get(direct), 30, "the app to answer")
    assert not _ready(_pod(core, kube_namespace, "web"))
    assert service_endpoint(kube_api, kube_namespace, "web", "web") is None

    # a rollout with a probe that answers: a new pod on a new address, the old process stopped
    apps.patch_namespaced_deployment(
        "web",
        kube_namespace,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "app", "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}}}
                        ]
                    }
                }
            }
        },
    )
    second = wait_for(
        lambda: (p := _pod(core, kube_namespace, "web")) and p.metadata.uid != first.metadata.uid and _ready(p) and p,
        60,
        "the new pod to be Ready",
    )
    assert not _alive(first_pid)
    wait_for(
        lambda: (d := apps.read_namespaced_deployment("web", kube_namespace)).status.available_replicas == 1 and d,
        30,
        "the Deployment to be Available",
    )
    address = wait_for(lambda: service_endpoint(kube_api, kube_namespace, "web", "web"), 30, "the Service's endpoint")
    assert address == (second.status.pod_ip, 8080)
    assert address[0].startswith("127.") and address[0] != "127.0.0.1" and address[0] != local.ip

    with urllib.request.urlopen(f"http://{address[0]}:{address[1]}/info", timeout=5) as response:
        info = json.loads(response.read())
    assert info["env"] == {
        "GREETING": f"hello {second.metadata.name}",
        "POD_NAME": second.metadata.name,
        "POD_IP": second.status.pod_ip,
        "TOKEN": "s3cret",
        "MODE": None,
        "CFG_MODE": "test",
        "TOKEN_FILE": info["env"]["TOKEN_FILE"],
    }
    # container paths were rewritten to the pod's files, which hold the Secret's value
    assert info["token_file"] == "s3cret" and info["env"]["TOKEN_FILE"].endswith("/etc/app/secret/token")
    assert info["argv"][0].endswith("/opt/app/server.py") and Path(info["argv"][0]).read_text() == APP
    assert info["path_has_home"] is False

    # deleting the Deployment stops the process (the kubelet confirms the pod's deletion)
    second_pid = process_kubelet.pod(kube_namespace, second.metadata.name).containers[0].proc.pid
    apps.delete_namespaced_deployment("web", kube_namespace, propagation_policy="Foreground")
    wait_for(lambda: not _alive(second_pid), 60, "the process to stop")
    wait_for(lambda: not core.list_namespaced_pod(kube_namespace, label_selector="app=web").items, 60, "pods gone")


def test_a_container_that_exits_is_restarted_with_crash_loop_back_off(
    kube_api, kube_namespace, app_objects, process_kubelet
):
    core, apps = app_objects, client.AppsV1Api(kube_api)
    core.create_namespaced_secret(
        kube_namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="app"), string_data={"token": "t"})
    )
    apps.create_namespaced_deployment(
        kube_namespace, _deployment("crash", ["python3", "-c", "import sys; print('boom: exiting'); sys.exit(3)"])
    )

    def crash_looping():
        pod = _pod(core, kube_namespace, "crash")
        statuses = (pod and pod.status.container_statuses) or []
        if not statuses or statuses[0].restart_count < 2 or not statuses[0].state.waiting:
            return None
        return pod

    pod = wait_for(crash_looping, 60, "two restarts")
    status = pod.status.container_statuses[0]
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert status.last_state.terminated.exit_code == 3 and status.ready is False
    assert not _ready(pod)
    assert process_kubelet.logs(kube_namespace).count("boom: exiting") >= 2
    deployment = apps.read_namespaced_deployment("crash", kube_namespace)
    assert not deployment.status.available_replicas


def test_a_missing_secret_holds_the_container_until_it_exists(kube_api, kube_namespace, app_objects, process_kubelet):
    core, apps = app_objects, client.AppsV1Api(kube_api)
    apps.create_namespaced_deployment(kube_namespace, _deployment("late", ["python3", "/opt/app/server.py", "8080"]))

    def waiting_reason():
        pod = _pod(core, kube_namespace, "late")
        statuses = (pod and pod.status.container_statuses) or []
        return statuses and statuses[0].state.waiting and statuses[0].state.waiting

    waiting = wait_for(waiting_reason, 60, "the container to wait")
    assert waiting.reason == "CreateContainerConfigError" and "Secret 'app' not found" in waiting.message
    core.create_namespaced_secret(
        kube_namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="app"), string_data={"token": "t"})
    )
    wait_for(lambda: _ready(_pod(core, kube_namespace, "late")), 60, "the pod to be Ready once the Secret exists")
