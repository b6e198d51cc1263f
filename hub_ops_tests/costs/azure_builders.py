"""An example fleet with an Azure (AKS) cluster, for the Azure cost details tests and the demo."""

from __future__ import annotations

import shutil
from pathlib import Path

GROUP = "2i2c-Azure-RG"  # as the cluster.yaml spells it; exports may spell it in any case
AKS = "hub-cluster"
AZURE_CLUSTER = f"""name: azure-hubs
provider: azure
azure: {{resource_group: {GROUP}, cluster: {AKS}}}
support:
  helm_chart_values_files: [support.values.yaml]
hubs:
- name: staging
  display_name: Azure hubs (staging)
  domain: staging.azure.example.org
  helm_chart: basehub
  helm_chart_values_files: [common.values.yaml]
- name: research
  display_name: Research hub
  namespace: research-hub
  domain: research.azure.example.org
  helm_chart: basehub
  helm_chart_values_files: [common.values.yaml]
"""


def fleet_with_azure(example: Path, root: Path) -> Path:
    """A copy of the example fleet with the cluster azure-hubs (hubs staging and research, the
    latter in namespace research-hub): resource group GROUP, AKS cluster AKS."""
    shutil.copytree(example, root)
    folder = root / "clusters" / "azure-hubs"
    folder.mkdir()
    (folder / "cluster.yaml").write_text(AZURE_CLUSTER)
    for name in ("support.values.yaml", "common.values.yaml"):
        (folder / name).write_text("{}\n")
    return root
