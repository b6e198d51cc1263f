"""hub_releases_in_sync: the live release of each hub against what hub_ops recorded and
what the config says now (Argo CD's "synced / out of sync", per hub)."""

import dagster as dg

from hub_ops.clients.git import GitError
from hub_ops.clients.helm import HelmFailure
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.defs.deploy.assets import HUB_RELEASES, HubReleaseRecord, latest_hub_release
from hub_ops.defs.shared.checks import verdict
from hub_ops.defs.shared.metadata import latest_check_metadata, table
from hub_ops.defs.shared.resources import FleetResource, GitResource, KubeResource, SopsResource
from hub_ops.deploy.manifests import documents, manifest_digest
from hub_ops.deploy.releases import PreparedCharts, hub_release
from hub_ops.deploy.runner import DeployFailed, ReleaseDeployer
from hub_ops.fleet import load_fleet

DRIFT, NOT_CHECKED = "DRIFT", "not checked"


@dg.asset_check(
    asset=HUB_RELEASES,
    description=(
        "For every hub with a recorded release: the live helm revision and manifest equal the last recorded deploy, "
        "and the config at the branch head renders to what is live. Fails naming each hub and what differs."
    ),
)
def hub_releases_in_sync(
    context: dg.AssetCheckExecutionContext,
    fleet: FleetResource,
    git: GitResource,
    sops: SopsResource,
    kube: KubeResource,
) -> dg.AssetCheckResult:
    try:
        remote = git.remote_for(fleet.root)
        at_head = load_fleet(remote.fleet_at(remote.fetch()), check_files=False)
    except GitError:
        at_head = fleet.load()
    sops_client = sops.client()
    rows, drift, unreachable = [], 0, 0
    with PreparedCharts(at_head) as charts:
        for cluster in at_head.clusters.values():
            recorded = {h.id: latest_hub_release(context.instance, h.partition_key) for h in cluster.hubs}
            recorded = {k: v for k, v in recorded.items() if v}
            if not recorded:
                continue
            try:
                helm = kube.helm(at_head, cluster)
            except ClusterUnreachable as e:
                unreachable += len(recorded)
                rows += [(hid, NOT_CHECKED, str(e)) for hid in recorded]
                continue
            deployer = ReleaseDeployer(at_head, charts, sops_client)
            try:
                for hub_id, rec in recorded.items():
                    try:
                        problems = _differences(helm, deployer, at_head, hub_id, rec)
                    except (ClusterUnreachable, HelmFailure) as e:
                        unreachable += 1
                        rows.append((hub_id, NOT_CHECKED, str(e)))
                        continue
                    drift += bool(problems)
                    rows.append(
                        (
                            hub_id,
                            DRIFT if problems else "in sync",
                            "; ".join(problems) or f"revision {rec.helm_revision}, {rec.manifest_digest[:19]}",
                        )
                    )
            finally:
                helm.close()
    checked = [hub for hub, state, _ in rows if state != NOT_CHECKED]
    return verdict(
        subject="hub",
        checked=checked,
        problems=[{"hub": h, "state": s, "detail": d} for h, s, d in rows if s == DRIFT],
        not_checked={h: d for h, s, d in rows if s == NOT_CHECKED},
        ok="every recorded release matches",
        none_because="no hub has a release recorded by hub_ops yet",
        metadata={
            "hubs": table([{"hub": h, "state": s, "detail": d} for h, s, d in rows], ["hub", "state", "detail"]),
            "drifted": drift,
        },
    )


def _differences(helm, deployer: ReleaseDeployer, fleet, hub_id: str, rec: HubReleaseRecord) -> list[str]:
    hub = fleet.hub(hub_id)
    release = hub_release(fleet, hub)
    live = helm.current(release.name, release.namespace)
    if live is None or live.status == "uninstalled":
        return ["no live release (uninstalled outside hub_ops?)"]
    problems = []
    if live.status != "deployed":
        problems.append(f"live release is {live.status}")
    if live.revision != rec.helm_revision:
        problems.append(f"live revision {live.revision}, recorded {rec.helm_revision} (changed outside hub_ops?)")
    live_digest = manifest_digest(documents([helm.manifest(release.name, release.namespace) or ""]))
    if live_digest != rec.manifest_digest:
        problems.append("live manifest differs from the last recorded deploy")
    try:
        desired = deployer.prepare(release).manifest_digest
        if desired != live_digest:
            problems.append("config at head renders differently from what is live (not deployed yet?)")
    except DeployFailed as e:
        problems.append(f"config at head does not render: {e}")
    return problems


def latest_sync_states(instance: dg.DagsterInstance) -> dict[str, tuple[str, str]]:
    """{hub id: (state, detail)} from the latest hub_releases_in_sync evaluation: "in sync",
    DRIFT or "not checked"; hubs it did not cover are absent."""
    hubs = latest_check_metadata(instance, HUB_RELEASES, "hub_releases_in_sync").get("hubs")
    if not isinstance(hubs, dg.TableMetadataValue):  # never ran, or an earlier markdown table
        return {}
    return {r.data["hub"]: (r.data["state"], r.data.get("detail") or "") for r in hubs.records}
