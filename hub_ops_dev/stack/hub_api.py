"""Health checks of hubs that run on the local stack: each hub's API is reached through its
Service's endpoints in the cluster (the stand-in kubelet gives every pod a loopback address),
not through its domain, which resolves nowhere here. Used by the deploy tests and `make demo`.
"""

from __future__ import annotations

from hub_ops.clients.jupyterhub import HubApi, HubApiError
from hub_ops.defs.shared.resources import JupyterHubResource

PUBLIC_SERVICE, PUBLIC_PORT = "proxy-public", "http"  # how users (and production health checks) reach a hub


class ServiceHubApi(HubApi):
    """A hub's API at the address its Service's endpoints give, looked up before each call
    (a rollout or a rollback moves the hub to a new pod and address)."""

    def __init__(self, kubeconfig: str, namespace: str, token: str, timeout: float = 10.0):
        super().__init__(base_url="", token=token, timeout=timeout)
        self.kubeconfig, self.namespace = kubeconfig, namespace

    def resolve(self) -> str:
        from kubernetes import config

        from hub_ops_dev.stack.services import service_endpoint

        with config.new_client_from_config(config_file=self.kubeconfig) as api:
            found = service_endpoint(api, self.namespace, PUBLIC_SERVICE, PUBLIC_PORT)
        if found is None:
            raise HubApiError(f"service {self.namespace}/{PUBLIC_SERVICE} has no ready endpoint")
        return f"http://{found[0]}:{found[1]}/hub/api"

    def _request(self, method, path, ok=(200,), **kwargs):
        self.base_url = self.resolve()
        return super()._request(method, path, ok, **kwargs)


class ClusterJupyterHubResource(JupyterHubResource):
    """hub_api for deploy_job on the local stack: each hub is reached through its own Service
    in the cluster, in the namespace `namespace_template` names ({cluster}, {hub}), not through
    a URL template.

    What the product could take from it: a JupyterHubResource mode that finds the hub from
    the release (its namespace and proxy-public Service) instead of the domain, e.g. through
    the API server's service proxy, for hubs whose domain does not resolve from where
    hub_ops runs."""

    kubeconfig: str
    namespace_template: str = "{hub}"  # the fleet's default: a hub's namespace is its name

    def client(self, domain: str, cluster: str, hub: str, token: str) -> HubApi:
        namespace = self.namespace_template.format(cluster=cluster, hub=hub)
        return ServiceHubApi(self.kubeconfig, namespace, token, self.timeout)
