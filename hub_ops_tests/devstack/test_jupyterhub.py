"""A real JupyterHub (with proxy and local spawner) driven through its REST API with a token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import jupyterhub
import pytest

from hub_ops.devstack.kube import wait_for


def test_rest_call_with_the_service_token(jupyterhub_server):
    assert jupyterhub_server.api("GET", "/")["version"] == jupyterhub.__version__
    info = jupyterhub_server.api("GET", "/info")
    assert info["spawner"]["class"].endswith("SimpleLocalProcessSpawner")
    assert isinstance(jupyterhub_server.api("GET", "/users"), list)


def test_a_bad_token_gets_403(jupyterhub_server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        jupyterhub_server.api("GET", "/users", token="not-the-token")
    assert refused.value.code == 403


def test_start_and_stop_a_user_server(jupyterhub_server):
    hub = jupyterhub_server
    name = f"user-{uuid.uuid4().hex[:6]}"
    hub.api("POST", f"/users/{name}")
    hub.api("POST", f"/users/{name}/server")  # 201 when spawned within slow_spawn_timeout, else 202

    def ready_server():
        server = hub.api("GET", f"/users/{name}")["servers"].get("")
        return server if server and server["ready"] else None

    server = wait_for(ready_server, timeout=60, what=f"{name}'s server to be ready", interval=0.2)
    assert server["url"] == f"/user/{name}/"

    # the user's jupyter_server answers through the proxy (access:servers lets the token in)
    request = urllib.request.Request(f"{hub.url}/user/{name}/api/status",
                                     headers={"Authorization": f"token {hub.api_token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert "started" in json.load(response)

    hub.api("DELETE", f"/users/{name}/server")
    wait_for(lambda: not hub.api("GET", f"/users/{name}")["servers"], timeout=30, what=f"{name}'s server to stop")
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(request, timeout=10)
    assert gone.value.code in (404, 424, 503)
