"""Clients of outside systems: the only code that talks to git, Kubernetes, Helm, GKE, EKS, AKS,
object storage, BigQuery and JupyterHub. Plain Python (no Dagster import), so the CLI and
library use them directly; hub_ops.defs.resources wraps them as Dagster resources.
"""
