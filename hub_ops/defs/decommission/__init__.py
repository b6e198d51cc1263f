"""The decommission domain (filled in by its issue)."""

import dagster as dg

defs = dg.Definitions()


def decommissioned_hubs(instance: dg.DagsterInstance) -> dict[str, str]:
    """Hub ids that were decommissioned, with a reason; deploys and backups skip them."""
    return {}


def resources(env: str) -> dict:
    return {}
