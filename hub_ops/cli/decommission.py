"""hub-ops compare-homes: what of a snapshot is in place in a folder (run by decommission
in a pod that mounts the successor's homes)."""

from __future__ import annotations

import sys

import click


@click.command("compare-homes")
@click.option("--hub", required=True, help="The snapshot's hub, cluster/hub.")
@click.option("--dest", required=True, help="The backup destination URL.")
@click.option("--snapshot", default="latest", show_default=True)
@click.option("--target", required=True, type=click.Path(file_okay=False), help="The folder to compare.")
@click.option("--user", default=None, help="Only this user's folder.")
@click.option("--strict", is_flag=True, help="Exit 1 unless every file of the snapshot is in place.")
def compare_homes(hub: str, dest: str, snapshot: str, target: str, user: str | None, strict: bool) -> None:
    """Print, as one JSON line, how much of the snapshot is in TARGET (read only)."""
    from hub_ops.backup import Repository
    from hub_ops.backup.compare import compare_with_snapshot
    from hub_ops.clients.storage import storage_from_env

    result = compare_with_snapshot(Repository.open(dest, storage_from_env()), hub, snapshot, target, user)
    click.echo(result.to_json())
    sys.exit(1 if strict and not result.complete else 0)
