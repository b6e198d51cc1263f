"""What each deploy step receives: one cluster's share of a plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub_ops.deploy.runner import DeploySettings, ReleaseResult
from hub_ops.fleet.planner import Plan


@dataclass
class ClusterDeployPlan:
    cluster: str
    fleet_root: str  # the fleet folder to deploy from (a commit's export, or the checkout)
    git_sha: str | None
    support: bool
    staging: list[str]
    prod: list[str]
    reasons: dict[str, list[str]]
    dry_run: bool
    kubernetes_version: str
    settings: DeploySettings = field(default_factory=DeploySettings)  # from the run's DeployConfig
    results: dict[str, ReleaseResult] = field(default_factory=dict)  # release id -> its result so far
    diffs: dict[str, str] = field(default_factory=dict)  # release id -> its rendered diff (markdown, masked)

    @property
    def mapping_key(self) -> str:
        return self.cluster.replace("-", "_").replace(".", "_")


def split_by_cluster(plan: Plan, **common) -> list[ClusterDeployPlan]:
    out = []
    for cluster in plan.clusters():
        staging = [h for h in plan.staging if h.split("/", 1)[0] == cluster]
        prod = [h for h in plan.prod if h.split("/", 1)[0] == cluster]
        ids = ([cluster] if cluster in plan.support else []) + staging + prod
        out.append(
            ClusterDeployPlan(
                cluster=cluster,
                support=cluster in plan.support,
                staging=staging,
                prod=prod,
                reasons={i: plan.reasons.get(i, []) for i in ids},
                **common,
            )
        )
    return out
