"""The `hub_releases` asset: what is deployed where.

Materialized by deploy_job (one event per hub partition after a successful, healthy
deploy), not by an asset function: a release is a side effect on a cluster, so the asset is
declared as a spec and the deploy steps record it. `hub_release_materialization` writes a
record, `latest_hub_release` reads it back; other domains call the reader.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import dagster as dg

from hub_ops.defs.shared.metadata import latest_materialization
from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.deploy.runner import ReleaseResult
from hub_ops.fleet.models import Hub

HUB_RELEASES = dg.AssetKey("hub_releases")
CLUSTERS = dg.AssetKey("clusters")

# deploys read the clusters' observed control-plane versions (kubernetes-validate's target):
# an edge only, a deploy never waits for a clusters run
hub_releases = dg.AssetSpec(
    HUB_RELEASES,
    deps=[CLUSTERS],
    partitions_def=hubs_partitions,
    group_name="deploy",
    kinds={"kubernetes", "helm"},
    description="The helm release of each hub: chart and version, digest of the merged values (never the values), "
    "git sha, helm revision, health check result, duration. Recorded by deploy_job.",
)


@dataclass(frozen=True)
class HubReleaseRecord:
    """One recorded deploy of a hub (never its values: digests only)."""

    cluster: str
    hub: str
    namespace: str
    chart: str
    chart_version: str
    values_digest: str
    manifest_digest: str
    git_sha: str
    helm_revision: int
    previous_revision: int
    status: str
    health: str
    duration_s: float
    why: str
    recorded_at: dt.datetime | None = None


def hub_release_materialization(hub: Hub, result: ReleaseResult, why: str) -> dg.AssetMaterialization:
    """The hub_releases record of a deployed, healthy hub."""
    return dg.AssetMaterialization(
        asset_key=HUB_RELEASES,
        partition=hub.partition_key,
        description=f"{hub.id}: {result.status} at helm revision {result.revision}",
        metadata={
            "cluster": hub.cluster,
            "hub": hub.name,
            "namespace": result.namespace,
            "chart": result.chart,
            "chart_version": result.chart_version,
            "values_digest": result.values_digest,
            "manifest_digest": result.manifest_digest,
            "git_sha": result.git_sha or "",
            "helm_revision": dg.MetadataValue.int(int(result.revision or 0)),
            "previous_revision": dg.MetadataValue.int(int(result.previous_revision or 0)),
            "status": result.status,
            "health": result.health,
            "duration_s": dg.MetadataValue.float(float(result.duration_s)),
            "why": why,
        },
    )


def latest_hub_release(instance: dg.DagsterInstance, partition_key: str) -> HubReleaseRecord | None:
    """The hub's last recorded deploy, or None when it was never deployed by hub_ops."""
    latest = latest_materialization(instance, HUB_RELEASES, partition_key)
    if latest is None:
        return None
    meta, recorded_at = latest
    return HubReleaseRecord(
        cluster=str(meta.get("cluster", "")),
        hub=str(meta.get("hub", "")),
        namespace=str(meta.get("namespace", "")),
        chart=str(meta.get("chart", "")),
        chart_version=str(meta.get("chart_version", "")),
        values_digest=str(meta.get("values_digest", "")),
        manifest_digest=str(meta.get("manifest_digest", "")),
        git_sha=str(meta.get("git_sha") or ""),
        helm_revision=int(meta.get("helm_revision") or 0),
        previous_revision=int(meta.get("previous_revision") or 0),
        status=str(meta.get("status", "")),
        health=str(meta.get("health", "")),
        duration_s=float(meta.get("duration_s") or 0.0),
        why=str(meta.get("why", "")),
        recorded_at=recorded_at,
    )
