"""Dagster resources for the fleet config and object storage."""

from __future__ import annotations

import os

import dagster as dg

from hub_ops.clients.storage import Storage
from hub_ops.fleet import Fleet, load_fleet


class FleetResource(dg.ConfigurableResource):
    """The fleet config, loaded from a folder (a checkout of the fleet repo)."""

    root: str = "deployments"

    def load(self, check_files: bool = False) -> Fleet:
        return load_fleet(self.root, check_files=check_files)


class StorageResource(dg.ConfigurableResource):
    """fsspec storage; see hub_ops.clients.storage.Storage for the local gs:// mapping."""

    local_root: str | None = None
    gcs_endpoint: str | None = None
    gcs_token: str | None = None

    def client(self) -> Storage:
        return Storage(self.local_root, self.gcs_endpoint, self.gcs_token)


def resources(env: str) -> dict:
    root = os.environ.get("HUB_OPS_FLEET", "deployments")
    if env == "production":
        return {
            "fleet": FleetResource(root=root),
            "storage": StorageResource(
                gcs_token=dg.EnvVar("HUB_OPS_GCS_TOKEN") if os.environ.get("HUB_OPS_GCS_TOKEN") else None
            ),
        }
    return {
        "fleet": FleetResource(root=root),
        "storage": StorageResource(local_root=os.environ.get("HUB_OPS_DATA", ".data")),
    }
