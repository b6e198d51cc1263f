"""The hub's jupyterhub_config.py, mounted from the chart's ConfigMap.

Everything the chart's values say arrives as files next to this one (the ConfigMap) and
in ../secret (the Secret), never as literals here:
- jupyterhub_config.json: `jupyterhub.hub.config`, applied as `c.<Section>.<trait> = value`
  after the defaults below, so values can change any of them;
- load_roles.json: `jupyterhub.hub.loadRoles`, roles for the services that have a token;
- ../secret/services.<name>.apiToken: one file per `jupyterhub.hub.services.<name>`.
The hub, its proxy and user servers listen on the pod's IP (POD_IP, from the downward API).
"""

import json
import os

c = get_config()  # noqa: F821
here = os.path.dirname(os.path.abspath(__file__))
secret_dir = os.path.join(os.path.dirname(here), "secret")
pod_ip = os.environ.get("POD_IP", "0.0.0.0")

c.JupyterHub.ip = pod_ip
c.JupyterHub.port = 8000
c.JupyterHub.hub_ip = pod_ip
c.JupyterHub.hub_port = 8081
c.ConfigurableHTTPProxy.api_url = f"http://{pod_ip}:8001"
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
c.Spawner.ip = pod_ip
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(os.getcwd(), "home", "{username}")

with open(os.path.join(here, "jupyterhub_config.json")) as f:
    for section, traits in json.load(f).items():
        for trait, value in traits.items():
            setattr(c[section], trait, value)

services = []
if os.path.isdir(secret_dir):
    for entry in sorted(os.listdir(secret_dir)):
        if entry.startswith("services.") and entry.endswith(".apiToken"):
            with open(os.path.join(secret_dir, entry)) as f:
                services.append({"name": entry[len("services.") : -len(".apiToken")], "api_token": f.read().strip()})
c.JupyterHub.services = services

names = {service["name"] for service in services}
with open(os.path.join(here, "load_roles.json")) as f:
    roles = json.load(f)
c.JupyterHub.load_roles = [
    {**role, "name": name, "services": [s for s in role.get("services", []) if s in names]}
    for name, role in roles.items()
    if any(s in names for s in role.get("services", []))
]
