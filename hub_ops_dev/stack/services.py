"""Reach a Service the way kube-proxy does, without kube-proxy: through its EndpointSlices.

The EndpointSlice controller writes podIP:containerPort of each ready pod a Service selects.
(The older Endpoints object stays empty on the local stack: its validation refuses loopback
addresses, which are the pod IPs the stand-in kubelet hands out; EndpointSlices accept them.)
"""

from __future__ import annotations

from kubernetes import client

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _slices(api: client.ApiClient, namespace: str, service: str) -> list[dict]:
    custom = client.CustomObjectsApi(api)
    selector = f"{SERVICE_NAME_LABEL}={service}"
    for version in ("v1", "v1beta1"):  # 1.21+ serve v1; the local 1.20 apiserver only v1beta1
        try:
            found = custom.list_namespaced_custom_object(
                "discovery.k8s.io", version, namespace, "endpointslices", label_selector=selector
            )
            return found.get("items", [])
        except client.ApiException as e:
            if e.status != 404:
                raise
    return []


def service_endpoint(api: client.ApiClient, namespace: str, service: str, port: str) -> tuple[str, int] | None:
    """(address, port) of a ready endpoint of `service`'s port named `port`, or None when no
    pod behind it is ready. Picks the first address in sorted order, so repeated calls agree."""
    ready = []
    for piece in _slices(api, namespace, service):
        numbers = [p.get("port") for p in piece.get("ports") or [] if p.get("name", "") == port]
        if not numbers or numbers[0] is None:
            continue
        for endpoint in piece.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready", True):
                ready += [(address, int(numbers[0])) for address in endpoint.get("addresses") or []]
    return sorted(ready)[0] if ready else None
