"""hub-ops validate | plan | schema."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click

from hub_ops.fleet import FleetConfigError, load_fleet, validate_fleet
from hub_ops.fleet.planner import Plan, plan_changes, plan_range


def _root(ctx: click.Context) -> Path:
    return Path(ctx.obj["fleet_root"])


@click.command()
@click.pass_context
def validate(ctx: click.Context) -> None:
    """Check every cluster, hub and referenced file; list every problem (exit 1 if any)."""
    try:
        fleet, problems = validate_fleet(_root(ctx))
    except FleetConfigError as e:
        fleet, problems = None, e.problems
    for p in problems:
        click.echo(str(p), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {_root(ctx)}", err=True)
        sys.exit(1)
    hubs = sum(len(c.hubs) for c in fleet.clusters.values())
    files = sum(len(h.helm_chart_values_files) for h in fleet.hubs())
    click.echo(
        f"ok: {len(fleet.clusters)} clusters, {hubs} hubs, {files} hub values files, "
        f"{len(fleet.charts)} charts ({fleet.layout} layout)"
    )


@click.command()
@click.option(
    "--files", "files_flag", is_flag=True, help="The arguments are changed paths (relative to the fleet root)."
)
@click.option("--base", help="Plan the git range BASE..HEAD (renames, deletions and cluster.yaml edits understood).")
@click.option("--head", default="HEAD", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.argument("paths", nargs=-1)
@click.pass_context
def plan(
    ctx: click.Context, files_flag: bool, base: str | None, head: str, as_json: bool, paths: tuple[str, ...]
) -> None:
    """Which support releases and hubs a change deploys, in deploy order, with reasons."""
    root = _root(ctx)
    if bool(paths or files_flag) == bool(base):
        raise click.UsageError("give either --files PATH... or --base REV [--head REV]")
    try:
        if base:
            result = _plan_git(root, base, head)
        else:
            result = plan_changes(load_fleet(root, check_files=False), [fleet_relative(root, p) for p in paths])
    except FleetConfigError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    click.echo(result.to_json() if as_json else format_plan(result))


def fleet_relative(root: Path, path: str) -> str:
    """A --files path as the planner wants it: relative to the fleet root.

    Paths are relative to the fleet root; but run from outside it (e.g. the repo root, with
    `git diff --name-only` output like deployments/clusters/...), a path that lies inside the
    fleet root is taken relative to the current folder. Otherwise it is kept as given, and
    the plan lists it under "deploys nothing" if it matches no release.
    """
    root_abs, cwd = os.path.abspath(root), os.getcwd()
    inside_root = os.path.commonpath([root_abs, cwd]) == root_abs
    candidate = os.path.abspath(path)
    if os.path.isabs(path) or (not inside_root and os.path.commonpath([root_abs, candidate]) == root_abs):
        rel = os.path.relpath(candidate, root_abs)
        return path if rel.startswith("..") else Path(rel).as_posix()
    return path


def _plan_git(root: Path, base: str, head: str) -> Plan:
    from hub_ops.clients.git import GitError, GitRepo

    repo = GitRepo(root)
    try:
        changes = repo.changed_paths(base, head)
        with tempfile.TemporaryDirectory(prefix="hub-ops-plan-") as tmp:
            fleet_at_head = repo.export(head, Path(tmp))
            fleet = load_fleet(fleet_at_head, check_files=False)
            return plan_range(fleet, changes, lambda path: repo.show(base, path))
    except GitError as e:
        raise click.ClickException(str(e)) from None


def format_plan(p: Plan) -> str:
    rows = p.rows()
    if not rows:
        lines = ["nothing to deploy"]
    else:
        width = [max(len(r[i]) for r in rows) for i in (0, 1)]
        head = ("STEP".ljust(width[0]), "RELEASE".ljust(width[1]), "WHY")
        lines = ["  ".join(head)] + ["  ".join((k.ljust(width[0]), r.ljust(width[1]), why)) for k, r, why in rows]
    if p.ignored:
        lines.append(f"(deploys nothing: {', '.join(p.ignored)})")
    return "\n".join(lines)


@click.command()
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder to write cluster/fleet schema files into."
)
def schema(out: str | None) -> None:
    """Export JSON Schemas of cluster.yaml and fleet.yaml for editors."""
    from hub_ops.fleet.schema import json_schemas

    schemas = json_schemas()
    if out is None:
        click.echo(json.dumps(schemas, indent=2))
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    for name, doc in schemas.items():
        (Path(out) / f"{name}.schema.json").write_text(json.dumps(doc, indent=2) + "\n")
        click.echo(f"wrote {Path(out) / (name + '.schema.json')}")
