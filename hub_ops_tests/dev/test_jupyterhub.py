"""A real JupyterHub (with proxy and local spawner) driven through its REST API with a token."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import jupyterhub
import pytest

from hub_ops_dev.stack.jupyterhub import JupyterHubServer
from hub_ops_dev.stack.kube import wait_for


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
    request = urllib.request.Request(
        f"{hub.url}/user/{name}/api/status", headers={"Authorization": f"token {hub.api_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert "started" in json.load(response)

    hub.api("DELETE", f"/users/{name}/server")
    wait_for(lambda: not hub.api("GET", f"/users/{name}")["servers"], timeout=30, what=f"{name}'s server to stop")
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(request, timeout=10)
    assert gone.value.code in (404, 424, 503)


def _pids_with_env(entry: str) -> list[int]:
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if entry.encode() in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def test_stopping_the_hub_stops_its_proxy_and_user_servers(tmp_path):
    hub = JupyterHubServer(tmp_path / "hub").start()
    try:
        hub.api("POST", "/users/ada")
        hub.api("POST", "/users/ada/server")
        wait_for(
            lambda: (hub.api("GET", "/users/ada")["servers"].get("") or {}).get("ready"),
            timeout=60,
            what="ada's server",
        )
        # this hub's own: other tests' hubs may have an `ada` too
        user_servers = [p for p in _pids_with_env("JUPYTERHUB_USER=ada") if _descends_from(p, hub.server.proc.pid)]
        proxy = int((tmp_path / "hub" / "proxy.pid").read_text())
        assert user_servers and _exists(proxy)
    finally:
        hub.stop()
    # stop() returns when the hub has exited; a child it signalled may still be exiting
    deadline = time.monotonic() + 10
    while [pid for pid in [*user_servers, proxy] if _exists(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in [*user_servers, proxy] if _exists(pid)] == []


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


def _exists(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
