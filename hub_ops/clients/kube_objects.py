"""Read any object of a cluster by apiVersion, kind, namespace and name (the dynamic client),
for comparing what a chart renders with what is live."""

from __future__ import annotations

from typing import Any

from hub_ops.clients.kube import ClusterUnreachable, KubeClient


class LiveObjects:
    """Objects of one cluster as the API returns them. Discovery runs once, on first use."""

    def __init__(self, kube: KubeClient):
        self.kube = kube
        self._dynamic = None

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as a dict, or None when it does not exist (or the API has no such kind).
        Raises ClusterUnreachable when the API cannot be reached."""
        import urllib3
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        try:
            if self._dynamic is None:
                from kubernetes.dynamic import DynamicClient

                self._dynamic = DynamicClient(self.kube.api)
            try:
                resource = self._dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                return None
            try:
                obj = resource.get(name=name, namespace=namespace if resource.namespaced else None)
            except NotFoundError:
                return None
            return obj.to_dict()
        except urllib3.exceptions.HTTPError as e:
            raise ClusterUnreachable(f"cluster {self.kube.name}: API not reachable: {type(e).__name__}") from None
