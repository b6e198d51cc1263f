"""change_previews: what each branch under review would change, release by release.

One partition per previewed branch (fleet.yaml `git.preview_branches`). The sensor sees a
branch appear or move (one `git ls-remote` per tick) and materializes its partition: the
branch is diffed against its merge-base with the watched branch (what merging it would
deploy, as a pull request shows it), rendered offline with secrets masked
(hub_ops.deploy.diff). Risk flags make the `no_risk_flags` check WARN. Branches that are
gone lose their partition.
"""

import json

import dagster as dg

from hub_ops.clients.git import GitError
from hub_ops.defs.shared.metadata import table
from hub_ops.defs.shared.resources import FleetResource, GitResource, SopsResource
from hub_ops.deploy.diff import diff_range
from hub_ops.deploy.preview_refs import fetch_preview, matching_refs, ref_of
from hub_ops.fleet import FleetConfigError
from hub_ops.fleet.loader import load_settings

preview_branches_partitions = dg.DynamicPartitionsDefinition(name="preview_branches")
NO_RISK_FLAGS = "no_risk_flags"


@dg.asset(
    partitions_def=preview_branches_partitions,
    group_name="deploy",
    kinds={"git", "helm"},
    check_specs=[
        dg.AssetCheckSpec(
            NO_RISK_FLAGS,
            asset="change_previews",
            description="WARN when the branch removes or replaces a PVC, namespace or StatefulSet, changes an image, "
            "resources, a Service's type or ports or the authenticator config, or a release cannot be rendered.",
        )
    ],
    description="Per previewed branch: each release its merge would deploy, rendered at the merge-base and at the "
    "branch head, diffed object by object (secrets shown as digests), with risk flags.",
)
def change_previews(
    context: dg.AssetExecutionContext, fleet: FleetResource, git: GitResource, sops: SopsResource
) -> dg.MaterializeResult:
    key = context.partition_key
    try:
        remote = git.remote_for(fleet.root)
        watched = remote.fetch()
        head = fetch_preview(remote, key)
        base = remote.repo.merge_base(watched, head) or watched
        result = diff_range(remote.repo, base, head, sops.client(), fleet_at=remote.fleet_at)
    except (GitError, FleetConfigError) as e:
        raise dg.Failure(f"cannot preview {ref_of(key)}: {e}", allow_retries=False) from None
    context.log.info(f"{ref_of(key)} {base[:12]}..{head[:12]}: {result.summary()}")
    flags = [{"release": rid, **f.as_dict()} for rid, f in result.flags]
    not_compared = [{"release": r.release, "step": r.step, "why": r.error} for r in result.errors]
    return dg.MaterializeResult(
        metadata={
            "diff": dg.MetadataValue.md(result.markdown()),
            "branch": ref_of(key),
            "base": base,
            "head": head,
            "releases": len(result.releases),
            "releases_changed": sum(r.status == "changed" for r in result.releases),
            "releases_unchanged": sum(r.status == "no change" for r in result.releases),
            "objects_added": sum(r.count("added") for r in result.releases),
            "objects_changed": sum(r.count("changed") for r in result.releases),
            "objects_removed": sum(r.count("removed") for r in result.releases),
            "risk_flags": len(result.flags),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=NO_RISK_FLAGS,
                passed=not result.flags and not result.errors,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "risk_flags": table(flags, ["release", "kind", "object", "detail"]),
                    "not_compared": table(not_compared, ["release", "step", "why"]),
                },
            )
        ],
    )


change_previews_job = dg.define_asset_job(
    "change_previews_job",
    selection=[change_previews],
    tags={"hub_ops/kind": "preview"},
    description="Preview one branch (partition) against the watched branch.",
)


@dg.sensor(
    job=change_previews_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Watches the branches matching fleet.yaml git.preview_branches; previews each new head.",
)
def change_previews_sensor(context: dg.SensorEvaluationContext, fleet: FleetResource, git: GitResource):
    try:
        patterns = load_settings(fleet.root).git.preview_branches
        if not patterns:
            return dg.SkipReason("fleet.yaml git.preview_branches is empty: no branch to preview")
        remote = git.remote_for(fleet.root)
        refs = matching_refs(remote.remote, patterns, exclude_branch=remote.branch)
    except (GitError, FleetConfigError) as e:
        return dg.SkipReason(f"cannot list the fleet repo's branches: {e}")
    seen = json.loads(context.cursor) if context.cursor else {}
    known = set(context.instance.get_dynamic_partitions(preview_branches_partitions.name))
    added, gone = sorted(set(refs) - known), sorted(known - set(refs))
    requests = [
        dg.RunRequest(partition_key=key, run_key=f"preview-{key}-{sha[:12]}", tags={"hub_ops/commit": sha[:12]})
        for key, sha in refs.items()
        if seen.get(key) != sha
    ]
    partition_requests = []
    if added:
        partition_requests.append(preview_branches_partitions.build_add_request(added))
    if gone:
        partition_requests.append(preview_branches_partitions.build_delete_request(gone))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=partition_requests,
        cursor=json.dumps(refs, sort_keys=True),
        skip_reason=None if requests else f"no branch matching {', '.join(patterns)} moved",
    )
