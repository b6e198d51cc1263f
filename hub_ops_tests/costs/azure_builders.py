"""An example fleet with the demo's Azure (AKS) cluster, for the Azure cost details tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from hub_ops_dev.demo.clouds import add_cloud_clusters

GROUP = "2i2c-Azure-RG"  # as the cluster.yaml spells it; exports may spell it in any case
AKS = "hub-cluster"


def fleet_with_azure(example: Path, root: Path) -> Path:
    """A copy of the example fleet with the cluster azure-hubs (hubs staging and research, the
    latter in namespace research-hub): resource group GROUP, AKS cluster AKS."""
    shutil.copytree(example, root)
    add_cloud_clusters(root, ("azure-hubs",))
    return root
