"""How to reach each cluster of the fleet, from its provider block."""

from __future__ import annotations

import os
from collections.abc import Callable

from hub_ops.clients.kube import ClusterAccess, ClusterUnreachable, access_from_kubeconfig_doc, local_kubeconfig
from hub_ops.clients.sops import Sops, SopsError
from hub_ops.fleet.loader import Fleet
from hub_ops.fleet.models import Cluster

# (cluster config, decrypted service-account key or None) -> access; provided by the GKE client
GkeAccessFn = Callable[[Cluster, dict | None], ClusterAccess]


def cluster_access(fleet: Fleet, cluster: Cluster, sops: Sops, gke_access: GkeAccessFn | None = None) -> ClusterAccess:
    """ClusterAccess for `cluster`. Raises ClusterUnreachable with the reason when there is none."""
    folder = fleet.cluster_dir(cluster.name)
    if cluster.provider == "local":
        path = local_kubeconfig(cluster.local.kubeconfig, fleet.root)
        if path is None:
            raise ClusterUnreachable(f"cluster {cluster.name}: no API configured (provider local without kubeconfig)")
        if not os.path.isfile(path):
            raise ClusterUnreachable(
                f"cluster {cluster.name}: kubeconfig not found: {path}"
                + (f" (from {cluster.local.kubeconfig!r})" if path != cluster.local.kubeconfig else "")
            )
        return ClusterAccess(kubeconfig_path=path, context=cluster.local.context)
    if cluster.provider == "kubeconfig":
        rel = fleet.relpath(folder / cluster.kubeconfig.file)
        try:
            doc = sops.decrypt(folder / cluster.kubeconfig.file, rel)
        except SopsError as e:
            raise ClusterUnreachable(f"cluster {cluster.name}: {e}") from None
        return access_from_kubeconfig_doc(doc, source=rel)
    if cluster.provider == "gcp":
        if gke_access is None:
            raise ClusterUnreachable(f"cluster {cluster.name}: GKE access is not configured")
        return gke_access(cluster, decrypted_key(fleet, cluster, "gcp", sops))
    if cluster.provider == "aws":
        from hub_ops.clients import eks  # boto3 loads only for fleets with aws clusters

        return eks.cluster_access(cluster, decrypted_key(fleet, cluster, "aws", sops))
    if cluster.provider == "azure":
        from hub_ops.clients import aks  # the Azure SDK loads only for fleets with azure clusters

        return aks.cluster_access(cluster, decrypted_key(fleet, cluster, "azure", sops))
    raise ClusterUnreachable(f"cluster {cluster.name}: provider {cluster.provider} is not supported by hub_ops")


def decrypted_key(fleet: Fleet, cluster: Cluster, provider: str, sops: Sops) -> dict | None:
    """The provider block's sops-encrypted `key`, decrypted in memory; None when the block
    names none (the provider's default credentials are used then). ClusterUnreachable names
    a missing or undecryptable file."""
    name = getattr(cluster, provider).key
    if not name:
        return None
    path = fleet.cluster_dir(cluster.name) / name
    rel = fleet.relpath(path)
    if not path.is_file():
        raise ClusterUnreachable(f"cluster {cluster.name}: {provider}.key file not found: {rel}")
    try:
        return sops.decrypt(path, rel)
    except SopsError as e:
        raise ClusterUnreachable(f"cluster {cluster.name}: {e}") from None
