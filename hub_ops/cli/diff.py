"""hub-ops diff: what a commit range (or head against the clusters) changes in each release."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

RISK_EXIT = 3  # CI can require a label when a change carries a risk flag


@click.command()
@click.option("--base", help="Compare the releases the plan of BASE..HEAD names, rendered at BASE and at HEAD.")
@click.option("--head", default="HEAD", show_default=True)
@click.option(
    "--hub",
    "hubs",
    multiple=True,
    help="Only this release (cluster/hub, or a cluster for its support release); repeatable.",
)
@click.option(
    "--live",
    is_flag=True,
    help="Compare HEAD with what each release's cluster runs (drift). With --base, the plan's releases; "
    "else every release (or those of --hub).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
@click.option("--workers", type=click.IntRange(1, 32), default=None, help="Releases rendered at once.")
@click.pass_context
def diff(
    ctx: click.Context,
    base: str | None,
    head: str,
    hubs: tuple[str, ...],
    live: bool,
    as_json: bool,
    workers: int | None,
) -> None:
    """Rendered manifests per release, object by object, secrets masked, risky changes flagged.

    Exit 0: no risk flag; 3: at least one (a PVC, namespace or StatefulSet removed or
    replaced, an image, resources, a Service's type or ports, or the authenticator config
    changed); 1: a release could not be compared or the input is wrong.
    """
    from hub_ops.clients.git import GitError, GitRepo
    from hub_ops.deploy.diff import all_releases, diff_live, diff_range, planned_releases
    from hub_ops.fleet import FleetConfigError, load_fleet
    from hub_ops.fleet.planner import plan_range

    if not base and not live:
        raise click.UsageError("give --base REV (and --head REV), or --live")
    root = Path(ctx.obj["fleet_root"])
    sops = _sops(root)
    repo = GitRepo(root)
    try:
        if not live:
            result = diff_range(repo, base, head, sops, only=hubs or None, workers=workers)
        else:
            with tempfile.TemporaryDirectory(prefix="hub-ops-diff-") as tmp:
                head_sha = repo.resolve(head)
                head_root = repo.export(head_sha, Path(tmp) / "head")
                fleet = load_fleet(head_root, check_files=False)
                if base:
                    base_sha = repo.resolve(base)
                    changes = repo.changed_paths(base_sha, head_sha)
                    entries = planned_releases(plan_range(fleet, changes, lambda p: repo.show(base_sha, p)))
                else:
                    entries = all_releases(fleet)
                if hubs:
                    unknown = sorted(set(hubs) - {e[0] for e in entries})
                    if unknown:
                        raise click.UsageError(f"--hub {', '.join(unknown)}: not a release of the fleet or the plan")
                    entries = [e for e in entries if e[0] in hubs]
                result = diff_live(head_root, entries, sops, _cluster_view(sops), head=head_sha, workers=workers)
    except (GitError, FleetConfigError) as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    click.echo(result.to_json() if as_json else result.text())
    if result.errors:
        sys.exit(1)
    sys.exit(RISK_EXIT if result.flags else 0)


def _sops(root: Path):
    from hub_ops.clients.sops import Sops
    from hub_ops.settings import get_settings

    return Sops(get_settings().age_key_file(root))


def _cluster_view(sops):
    from hub_ops.clients.clusters import cluster_access
    from hub_ops.deploy.live import ClusterView

    def view(fleet, name: str) -> ClusterView:
        cluster = fleet.clusters[name]
        gke = None
        if cluster.provider == "gcp":
            from hub_ops.clients.gke import cluster_access as gke
        return ClusterView(cluster_access(fleet, cluster, sops, gke), name)

    return view
