"""The demo's AWS (EKS) and Azure (AKS) clusters, added to scratch copies of the example fleet.

deployments/ stays as it is (`make dev` and the tests use it); the fleet step's sample repo and
the costs step's multi-cloud report get these clusters, so the plan, the dry run and the cost
report show every provider. Neither needs cloud credentials: a dry run renders offline, and the
cost report reads sample exports under the demo's data folder.
"""

from __future__ import annotations

from pathlib import Path

import yaml

AWS_ACCOUNT = "123456789012"
CLUSTERS = {
    "aws-hubs": f"""# An EKS cluster (hub_ops reaches it with the default AWS credential chain; none in the demo)
name: aws-hubs
provider: aws
aws: {{account: "{AWS_ACCOUNT}", clusterName: aws-hubs-cluster, region: us-west-2}}
support:
  helm_chart_values_files: [support.values.yaml]
hubs:
- name: staging
  display_name: AWS hubs (staging)
  domain: staging.aws.example.org
  helm_chart: basehub
  helm_chart_values_files: [common.values.yaml, staging.values.yaml]
- name: science
  display_name: Science hub on AWS
  domain: science.aws.example.org
  helm_chart: basehub
  helm_chart_values_files: [common.values.yaml, science.values.yaml]
""",
    "azure-hubs": """# An AKS cluster in resource group 2i2c-Azure-RG (nodes: MC_2i2c-Azure-RG_hub-cluster_<region>)
name: azure-hubs
provider: azure
azure: {resource_group: 2i2c-Azure-RG, cluster: hub-cluster}
support:
  helm_chart_values_files: [support.values.yaml]
hubs:
- name: staging
  display_name: Azure hubs (staging)
  domain: staging.azure.example.org
  helm_chart: basehub
  helm_chart_values_files: [common.values.yaml, staging.values.yaml]
- name: research
  display_name: Research hub on Azure
  namespace: research-hub
  domain: research.azure.example.org
  helm_chart: basehub
  helm_chart_values_files: [common.values.yaml, science.values.yaml]
""",
}
COMMON = """jupyterhub:
  hub:
    services:
      hub-ops:
        apiToken: cloud-demo-not-a-secret
  singleuser:
    defaultUrl: /lab
home:
  pvc:
    create: false
"""
HUB = """jupyterhub:
  hub:
    config:
      JupyterHub:
        authenticator_class: dummy
      Spawner:
        mem_limit: 2G
"""
# where the multi-cloud report's sample exports go (mapped under HUB_OPS_DATA, as fleet.yaml's gs://)
CUR_URL = "s3://example-fleet-cur/"
AZURE_URL = "az://example-fleet-costs/exports/"


def add_cloud_clusters(root: Path, names: tuple[str, ...] = tuple(CLUSTERS)) -> None:
    """Adds the clusters `names` (aws-hubs, azure-hubs) to the fleet at `root`."""
    for name in names:
        folder = root / "clusters" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cluster.yaml").write_text(CLUSTERS[name])
        (folder / "support.values.yaml").write_text(f"clusterName: {name}\n")
        (folder / "common.values.yaml").write_text(COMMON)
        for hub in ("staging", "science"):
            (folder / f"{hub}.values.yaml").write_text(HUB)


def bill_every_cloud(root: Path) -> list[dict]:
    """fleet.yaml costs.billing as three sources: the GCP export it names, CUR 2.0 and Azure cost details."""
    path = root / "fleet.yaml"
    settings = yaml.safe_load(path.read_text())
    gcp = settings["costs"]["billing"]
    sources = [*(gcp if isinstance(gcp, list) else [gcp])]
    sources += [{"files": CUR_URL, "format": "aws-cur"}, {"files": AZURE_URL, "format": "azure"}]
    settings["costs"]["billing"] = sources
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return sources
