"""no_orphaned_releases: a hub release still deployed whose hub left the config."""

import dagster as dg

from hub_ops.clients.helm import HelmFailure
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.defs.decommission.records import decommissioned_hubs
from hub_ops.defs.deploy.assets import HUB_RELEASES
from hub_ops.defs.shared.checks import verdict
from hub_ops.defs.shared.resources import FleetResource, KubeResource
from hub_ops.deploy.runner import CLUSTER_LABEL, HUB_LABEL, MANAGED_LABEL


@dg.asset_check(
    asset=HUB_RELEASES,
    description=(
        "Every hub release hub_ops deployed (helm label hub-ops/managed) still belongs to a hub of the config, or to a "
        "decommissioned hub being torn down. A hub entry removed from cluster.yaml while deployed fails this check: it "
        "needs a decommission run; nothing is deleted without one."
    ),
)
def no_orphaned_releases(
    context: dg.AssetCheckExecutionContext, fleet: FleetResource, kube: KubeResource
) -> dg.AssetCheckResult:
    config = fleet.load()
    known = {h.id for h in config.hubs()}
    retired = decommissioned_hubs(context.instance)
    orphans: list[tuple] = []
    checked: list[str] = []
    unreachable: dict[str, str] = {}
    for cluster in config.clusters.values():
        try:
            helm = kube.helm(config, cluster)
        except ClusterUnreachable as e:
            unreachable[cluster.name] = str(e)
            continue
        try:
            for info, labels in helm.releases(MANAGED_LABEL, "true"):
                hub = labels.get(HUB_LABEL)
                if not hub or labels.get(CLUSTER_LABEL) != cluster.name:
                    continue  # support releases, or a release of another cluster's config
                hub_id = f"{cluster.name}/{hub}"
                if hub_id not in known:
                    note = "decommissioned, teardown unfinished" if hub_id in retired else ""
                    orphans.append((cluster.name, hub_id, info.namespace, info.revision, info.chart, note))
            checked.append(cluster.name)
        except (ClusterUnreachable, HelmFailure) as e:
            unreachable[cluster.name] = str(e)
        finally:
            helm.close()
    columns = ["cluster", "hub", "namespace", "revision", "chart", "note"]
    return verdict(
        subject="cluster",
        checked=checked,
        problems=[dict(zip(columns, row, strict=True)) for row in orphans],
        problem_columns=columns,
        not_checked=unreachable,
        ok="every managed release belongs to a hub of the config",
        none_because="the fleet has no cluster",
        metadata={"orphaned": len(orphans)},
    )
