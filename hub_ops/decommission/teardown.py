"""Remove a hub from its cluster: helm uninstall, then its namespace. Idempotent."""

from __future__ import annotations

from hub_ops.clients.helm import HelmClient
from hub_ops.clients.kube import KubeClient
from hub_ops.deploy.releases import Release


def uninstall(helm: HelmClient, release: Release) -> str:
    """helm uninstall the release; 'already gone' is success."""
    if helm.uninstall(release.name, release.namespace):
        return f"release {release.namespace}/{release.name} uninstalled"
    return f"release {release.namespace}/{release.name} already gone"


def delete_namespace(kube: KubeClient, namespace: str, timeout: float = 600) -> str:
    """Delete the namespace (and what is left in it: kept PVCs, secrets) and wait until it
    is gone; 'already gone' is success."""
    if kube.delete_namespace(namespace, timeout=timeout):
        return f"namespace {namespace} deleted"
    return f"namespace {namespace} already gone"
