"""A real JupyterHub on loopback, for the deploy health check and its tests.

jupyterhub + jupyter_server from PyPI; the proxy is PyPI's `configurable-http-proxy`, a
Python reimplementation of the Node proxy with the same command line and REST API, so
neither CI nor a developer needs Node. Users log in through the dummy authenticator and
get servers from SimpleLocalProcessSpawner (a `jupyterhub-singleuser` process per user,
from this venv). One service, `hub-ops`, holds the API token, with the scopes the health
check needs to read the hub and start/stop servers.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hub_ops_dev.stack.process import ServerProcess, StackError, free_port

SERVICE_NAME = "hub-ops"
SERVICE_SCOPES = ["read:hub", "list:users", "admin:users", "admin:servers", "access:servers"]
TOKEN_ENV = "HUB_OPS_STACK_HUB_TOKEN"

# Read by jupyterhub; values come in through the environment so the token is never on disk.
CONFIG = """
import os, sys
c = get_config()  # noqa: F821
here = os.path.dirname(os.path.abspath(__file__))
c.JupyterHub.bind_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy_command!r}]
c.ConfigurableHTTPProxy.pid_file = os.path.join(here, "proxy.pid")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(here, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(here, "cookie_secret")
c.JupyterHub.pid_file = os.path.join(here, "jupyterhub.pid")
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.ip = "127.0.0.1"
c.Spawner.args = {spawner_args!r}
c.Spawner.start_timeout = 60
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(here, "home", "{{username}}")
c.JupyterHub.services = [{{"name": {service!r}, "api_token": os.environ[{token_env!r}]}}]
c.JupyterHub.load_roles = [{{"name": {service!r}, "scopes": {scopes!r}, "services": [{service!r}]}}]
"""


def _venv_bin(name: str) -> Path:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise StackError(f"{name} not found next to {sys.executable}: install the test extra (make setup)")
    return path


@dataclass
class JupyterHubServer:
    """JupyterHub + proxy under `workdir`; `.url` (through the proxy), `.api_token`.

    `stop()` SIGTERMs the hub's process group: the hub then stops the user servers and
    the proxy it started before it exits. Safe to call twice.
    """

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hub-ops-jupyterhub-")))
    api_token: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    port: int = 0
    server: ServerProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/hub/api"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.workdir / "jupyterhub_config.py"
        config.write_text(
            CONFIG.format(
                proxy_port=self.port,
                hub_port=free_port(),
                proxy_api_port=free_port(),
                proxy_command=str(_venv_bin("configurable-http-proxy")),
                singleuser=str(_venv_bin("jupyterhub-singleuser")),
                # jupyter_server refuses to run as root without it
                spawner_args=["--allow-root"] if os.geteuid() == 0 else [],
                service=SERVICE_NAME,
                token_env=TOKEN_ENV,
                scopes=SERVICE_SCOPES,
            )
        )
        return config

    def start(self, timeout: float = 60.0) -> JupyterHubServer:
        config = self.write_config()
        self.server = ServerProcess(
            "jupyterhub",
            [str(_venv_bin("jupyterhub")), "-f", str(config)],
            log=self.workdir / "jupyterhub.log",
            cwd=self.workdir,
            env={TOKEN_ENV: self.api_token},
        ).start()
        self.server.wait_ready(lambda: self.api("GET", "/")["version"] != "", timeout)
        return self

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        """Call the hub's REST API with the service token; returns the decoded JSON (or {})."""
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token or self.api_token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()
        return json.loads(payload) if payload else {}

    def stop(self, remove: bool = False) -> None:
        """Stop the hub (and so its proxy and user servers); with `remove`, delete workdir too."""
        if self.server:
            self.server.stop(timeout=20)
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)


# The image the basehub chart's hub runs, and what stands for it on this machine: the
# venv's jupyterhub, jupyterhub-singleuser and configurable-http-proxy (see process_kubelet.py).
HUB_IMAGE = "quay.io/jupyterhub/k8s-hub"


def local_hub_image():
    from hub_ops_dev.stack.pod_runtime import LocalImage

    return LocalImage(path=(str(_venv_bin("jupyterhub").parent),))
