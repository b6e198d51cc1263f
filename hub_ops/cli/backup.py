"""hub-ops backup | snapshots | verify | restore | prune: the backup engine at a terminal.

Every command takes `--hub CLUSTER/HUB` and `--dest URL` (file://, gs://, or a path). When
the fleet config is at hand, `--dest` defaults to the hub's backup destination, `--source`
to its home folder when that is a local path, and prune's policy to the hub's retention.

Storage follows the environment like Dagster's resources do: HUB_OPS_ENV=local (default)
maps gs:// URLs under $HUB_OPS_DATA/gcs (default .data); production uses real GCS
(credentials from the environment, or the key file in HUB_OPS_GCS_TOKEN);
HUB_OPS_GCS_ENDPOINT sends gs:// to a GCS-protocol server instead (tests).

A progress bar (files, bytes, throughput) is shown when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click

# the engine's names load on first use (hub_ops.backup is a lazy package): `--help` and
# argument errors cost no numpy, pyarrow or storage client
import hub_ops.backup as engine
from hub_ops.clients import storage

# ---------------------------------------------------------------- fleet defaults


def _fleet_hub(ctx: click.Context, hub: str):
    """(fleet, hub) from the fleet config, or (None, None) when there is no fleet here."""
    root = Path(ctx.obj["fleet_root"]) if ctx.obj else Path(".")
    if not ((root / "fleet.yaml").is_file() or (root / "config" / "clusters").is_dir()):
        return None, None
    from hub_ops.fleet import FleetConfigError, load_fleet  # ~1 s of pydantic models: only with a fleet

    try:
        fleet = load_fleet(root, check_files=False)
        return fleet, fleet.hub(hub)
    except (FleetConfigError, KeyError):
        return None, None


def _destination(ctx: click.Context, hub: str, dest: str | None) -> str:
    if dest:
        return dest
    fleet, found = _fleet_hub(ctx, hub)
    if found is None:
        raise click.UsageError(f"--dest is required ({hub} is not in a fleet config here to take its destination from)")
    from hub_ops.backup.config import backup_destination

    return backup_destination(fleet, found)


def _open(ctx: click.Context, hub: str, dest: str | None) -> tuple[str, engine.Repository]:
    try:
        hub = engine.normalize_hub(hub)
    except engine.BackupError as e:
        raise click.BadParameter(str(e), param_hint="--hub") from None
    return hub, engine.Repository.open(_destination(ctx, hub, dest), storage.storage_from_env())


def _size(n: float) -> str:
    from hub_ops.backup.manifest import human_size  # pyarrow: not for `--help`

    return human_size(n)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except engine.BackupError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(1)


# ---------------------------------------------------------------- progress


def _maybe_terminal() -> bool:
    """False when rich would surely find no terminal: a backup pod then skips importing
    rich (~0.1 s). rich decides in the other cases (its FORCE_COLOR and TTY_* variables)."""
    if os.environ.get("TTY_COMPATIBLE") == "0":
        return False
    return sys.stderr.isatty() or any(v in os.environ for v in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"))


@contextlib.contextmanager
def _progress_bar(label: str, read: Callable[[], tuple[int, int, int | None, int | None]]) -> Iterator[None]:
    """A rich bar fed by `read() -> (files, bytes, expected files, expected bytes)`, on a
    terminal only (logs and pipes get the final summary line alone)."""
    if not _maybe_terminal():
        yield
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        TextColumn,
        TimeElapsedColumn,
        TransferSpeedColumn,
    )
    from rich.progress import (
        Progress as Bar,
    )

    stop = threading.Event()
    with Bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[files]} files"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None, files="0")

        def refresh() -> None:
            while not stop.wait(0.1):
                files, nbytes, expected_files, expected_bytes = read()
                bar.update(
                    task,
                    completed=nbytes,
                    total=expected_bytes or None,
                    files=f"{files}" + (f"/{expected_files}" if expected_files else ""),
                )

        thread = threading.Thread(target=refresh, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _duration(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if not m:
        raise click.BadParameter(f"{text!r}: expected a number of seconds or e.g. 30m, 6h, 2d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


hub_option = click.option("--hub", required=True, metavar="CLUSTER/HUB", help="The hub (cluster/hub).")
dest_option = click.option(
    "--dest", metavar="URL", help="Backup destination (file://, gs://, a path). Default: the fleet's."
)


# ---------------------------------------------------------------- commands


@click.command()
@hub_option
@click.option(
    "--source",
    type=click.Path(file_okay=False),
    help="The folder holding the hub's home directories. Default: the hub's home.local_path in the fleet.",
)
@dest_option
@click.option("--compression", type=click.Choice(["zstd", "none"]), default=None, help="Default: the fleet's (zstd).")
@click.option("--workers", type=int, default=None, help="Parallel readers/uploaders (default 8 local, 32 remote).")
@click.option("--walk-threads", type=int, default=1, show_default=True, help="Metadata calls in flight (NFS: 16+).")
@click.option("--ignore-inode", is_flag=True, help="Compare files by size, mtime and mode only (inodes unstable).")
@click.option("--full", is_flag=True, help="Read every file, ignoring the previous snapshot.")
@click.option("--fail-on-unreadable", is_flag=True, help="Write no snapshot if any file cannot be read.")
@click.option(
    "--parallel-workers",
    type=click.IntRange(min=1),
    default=None,
    help="Split the users' folders between N worker processes, then commit one snapshot.",
)
@click.option("--plan-only", is_flag=True, help="With --parallel-workers: write the plan, print its id, run nothing.")
@click.option(
    "--reuse-pending",
    is_flag=True,
    help="With --plan-only: keep the hub's uncommitted plan if its folders are unchanged (its done parts stay).",
)
@click.option("--plan", "plan_id", metavar="ID", help="With --part: run one worker of this plan.")
@click.option("--part", type=click.IntRange(min=0), default=None, help="With --plan: the part to run (0-based).")
@click.option("--commit", "commit_id", metavar="ID", help="Commit the plan ID's snapshot once every part is there.")
@click.option("--json", "as_json", is_flag=True, help="Print the snapshot's summary as JSON.")
@click.pass_context
def backup(
    ctx: click.Context,
    hub: str,
    source: str | None,
    dest: str | None,
    compression: str | None,
    workers: int | None,
    walk_threads: int,
    ignore_inode: bool,
    full: bool,
    fail_on_unreadable: bool,
    parallel_workers: int | None,
    plan_only: bool,
    reuse_pending: bool,
    plan_id: str | None,
    part: int | None,
    commit_id: str | None,
    as_json: bool,
) -> None:
    """Snapshot a hub's home directories (incremental, deduplicated; safe to interrupt).

    Several workers (a big hub): `--parallel-workers N` runs them here as processes; for
    other machines (Kubernetes Jobs) `--plan-only`, then `--plan ID --part I` per part,
    then `--commit ID`. No snapshot is visible until the commit."""
    if (plan_id is None) != (part is None):
        raise click.UsageError("--plan and --part go together (one worker of a plan)")
    if plan_only and not parallel_workers:
        raise click.UsageError("--plan-only needs --parallel-workers N (the number of parts)")
    if reuse_pending and not plan_only:
        raise click.UsageError("--reuse-pending goes with --plan-only (the caller then runs the missing parts)")
    with _errors():
        hub, repo = _open(ctx, hub, dest)
        if commit_id is not None:
            from hub_ops.backup.parts import commit_parts

            _report(commit_parts(repo, hub, commit_id), hub, as_json)
            return
        plan = None
        if plan_id is not None:  # one worker: the source is the plan's unless named (a Job's mount)
            from hub_ops.backup import parts

            plan = parts.load_plan(repo, hub, plan_id)
            source = source or plan.source
        # a backup pod names its source, destination and compression: no fleet to load then
        fleet, found = _fleet_hub(ctx, hub) if source is None or compression is None else (None, None)
        if source is None:
            from hub_ops.backup.config import local_home

            source = str(local_home(fleet, found)) if found is not None else None
            if source is None:
                raise click.UsageError(f"--source is required ({hub} has no local home folder in a fleet config here)")
        if compression is None:
            compression = fleet.settings.backups.compression if fleet is not None else "zstd"
        options = engine.BackupOptions(
            compression=compression,
            workers=workers,
            walk_threads=walk_threads,
            ignore_inode=ignore_inode,
            fail_on_unreadable=fail_on_unreadable,
            parent=None if full else "latest",
        )
        if parallel_workers:
            from hub_ops.backup import parts

            plan = parts.make_plan(repo, hub, source, parallel_workers, parent=not full, reuse_pending=reuse_pending)
            if plan_only:
                click.echo(plan.to_json() if as_json else plan.id)
                return
            parts.run_part_processes(repo.url, storage.storage_from_env(), plan, options)
            summary = parts.commit_parts(repo, hub, plan.id)
        else:
            progress = engine.Progress()
            with _progress_bar(
                f"backup {hub}",
                lambda: (progress.files, progress.bytes, progress.expected_files, progress.expected_bytes),
            ):
                if plan is not None:
                    summary = parts.run_part(repo, dataclasses.replace(plan, source=source), part, options, progress)
                else:
                    summary = engine.create_snapshot(repo, hub, source, options, progress)
    _report(summary, hub, as_json, part=f"part {part} of plan {plan_id}" if plan_id else None)


def _report(summary: engine.SnapshotSummary, hub: str, as_json: bool, part: str | None = None) -> None:
    if as_json:
        click.echo(summary.to_json())
        return
    click.echo(
        (f"{part} (uncommitted) of " if part else "")
        + f"snapshot {summary.id} of {hub}: {summary.files} files, {_size(summary.bytes)}, "
        f"{_size(summary.new_bytes)} new ({summary.hashed_files} files read), "
        f"dedupe {summary.dedupe_ratio:.2f}x, {summary.duration_s:.1f} s "
        f"({_size(summary.throughput_bps)}/s)"
    )
    if summary.skipped:
        click.echo("skipped (not files): " + ", ".join(f"{n} {kind}" for kind, n in sorted(summary.skipped.items())))
    if summary.unreadable_count:
        click.echo(f"{summary.unreadable_count} unreadable file(s) left out:", err=True)
        for line in summary.unreadable:
            click.echo(f"  {line}", err=True)


@click.command()
@hub_option
@dest_option
@click.option("--json", "as_json", is_flag=True, help="One JSON summary per line.")
@click.pass_context
def snapshots(ctx: click.Context, hub: str, dest: str | None, as_json: bool) -> None:
    """List a hub's snapshots, oldest first."""
    with _errors():
        hub, repo = _open(ctx, hub, dest)
        summaries = repo.summaries(hub)
    if as_json:
        for s in summaries:
            click.echo(s.to_json())
        return
    if not summaries:
        click.echo(f"no snapshots of {hub} in {repo.url}")
        return
    click.echo(format_snapshots(summaries))


def format_snapshots(summaries) -> str:
    """The snapshots table people read at a terminal, oldest first."""
    rows = [("ID", "CREATED", "FILES", "SIZE", "NEW", "DEDUPE", "SECONDS")]
    rows += [
        (
            s.id,
            s.created,
            str(s.files),
            _size(s.bytes),
            _size(s.new_bytes),
            f"{s.dedupe_ratio:.2f}x",
            f"{s.duration_s:.2f}",
        )
        for s in summaries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows
    )


@click.command()
@hub_option
@dest_option
@click.option("--snapshot", default="latest", show_default=True, help="A snapshot id (or unique prefix), or latest.")
@click.option("--deep", is_flag=True, help="Also read back and re-hash contents.")
@click.option(
    "--sample",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="With --deep: re-hash this fraction of the contents (default: all).",
)
@click.pass_context
def verify(ctx: click.Context, hub: str, dest: str | None, snapshot: str, deep: bool, sample: float | None) -> None:
    """Check that a snapshot's contents are all stored, whole (exit 1 naming each bad file)."""
    with _errors():
        hub, repo = _open(ctx, hub, dest)
        checked = [0]
        with _progress_bar(f"verify {hub}", lambda: (checked[0], 0, None, None)):
            report = engine.verify_snapshot(
                repo, hub, snapshot, deep=deep, sample=sample, on_object=lambda: checked.__setitem__(0, checked[0] + 1)
            )
    for problem in report.problems:
        click.echo(problem, err=True)
    what = f"{report.files} files, {report.contents} distinct contents in {report.objects} objects" + (
        f", {report.deep_checked} re-hashed" if deep else ""
    )
    if report.problems:
        click.echo(f"snapshot {report.snapshot_id} of {hub}: {len(report.problems)} problem(s) ({what})", err=True)
        sys.exit(1)
    click.echo(f"ok: snapshot {report.snapshot_id} of {hub}: {what}")


@click.command()
@hub_option
@dest_option
@click.option("--snapshot", default="latest", show_default=True, help="A snapshot id (or unique prefix), or latest.")
@click.option("--user", "users", multiple=True, help="Restore this user's home folder only; repeatable.")
@click.option(
    "--path", "globs", multiple=True, metavar="GLOB", help="Restore entries matching (or below) GLOB; repeatable."
)
@click.option("--target", required=True, type=click.Path(file_okay=False), help="Folder to restore into (created).")
@click.option(
    "--part",
    type=click.IntRange(min=0),
    default=None,
    help="With --parts N: restore only share I (0-based) of the users' folders, divided by the snapshot's sizes.",
)
@click.option("--parts", type=click.IntRange(min=1), default=None, help="With --part: the number of restore workers.")
@click.option("--allow-external-links", is_flag=True, help="Restore symlinks pointing outside the target as they were.")
@click.option("--skip-refused", is_flag=True, help="Restore the rest when some entries are refused (exit 1 still).")
@click.option(
    "--overwrite-newer-reason",
    default="",
    metavar="TEXT",
    help="Replace files in the target that are newer than the snapshot's copy (kept by default), for this reason.",
)
@click.pass_context
def restore(
    ctx: click.Context,
    hub: str,
    dest: str | None,
    snapshot: str,
    users: tuple[str, ...],
    globs: tuple[str, ...],
    target: str,
    part: int | None,
    parts: int | None,
    allow_external_links: bool,
    skip_refused: bool,
    overwrite_newer_reason: str,
) -> None:
    """Restore a snapshot (whole, some users, or paths) into a folder; byte-identical, rerunnable.
    Files in the target newer than the snapshot's copy are kept (and listed) unless
    --overwrite-newer-reason says why they may be replaced. A whole hub by N workers at once
    (Jobs, machines): each runs `--part I --parts N`, I from 0 to N-1, into the same target."""
    if (part is None) != (parts is None):
        raise click.UsageError("--part and --parts go together (one of N restore workers)")
    if parts is not None and users:
        raise click.UsageError("--part/--parts divide the whole hub between workers: not with --user")
    if part is not None and part >= parts:
        raise click.UsageError(f"--part {part}: with --parts {parts}, expected 0 to {parts - 1}")
    with _errors():
        hub, repo = _open(ctx, hub, dest)
        if parts is not None:
            from hub_ops.backup.restore_parts import share_of

            snapshot = repo.resolve(hub, snapshot)
            users = tuple(share_of(repo, hub, snapshot, part, parts))
            if not users:  # fewer folders than workers: restoring "no user filter" would be everything
                click.echo(f"share {part} of {parts} of snapshot {snapshot} of {hub}: no folders, nothing to do")
                return
            click.echo(f"share {part} of {parts} of snapshot {snapshot} of {hub}: {len(users)} folder(s)")
        progress = engine.RestoreProgress()
        try:
            with _progress_bar(
                f"restore {hub}",
                lambda: (progress.files, progress.bytes, progress.expected_files, progress.expected_bytes),
            ):
                report = engine.restore_snapshot(
                    repo,
                    hub,
                    target,
                    snapshot,
                    users=list(users) or None,
                    globs=list(globs) or None,
                    overwrite_newer=bool(overwrite_newer_reason.strip()),
                    allow_external_links=allow_external_links,
                    skip_refused=skip_refused,
                    progress=progress,
                )
        except engine.RestoreRefusedError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
    click.echo(
        f"restored snapshot {report.snapshot_id} of {hub} into {report.target}: {report.files} files "
        f"({_size(report.bytes)}), {report.dirs} folders, {report.symlinks} symlinks"
        + (f"; {report.already_there} already there" if report.already_there else "")
        + (f"; overwrote newer files: {overwrite_newer_reason.strip()}" if overwrite_newer_reason.strip() else "")
    )
    if report.kept_newer:
        click.echo(
            f"{len(report.kept_newer)} file(s) kept: newer in the target than in the snapshot "
            "(--overwrite-newer-reason replaces them):",
            err=True,
        )
        for line in report.kept_newer[:50]:
            click.echo(f"  {line}", err=True)
    if report.refused:
        click.echo(f"{len(report.refused)} entries refused:", err=True)
        for line in report.refused:
            click.echo(f"  {line}", err=True)
        sys.exit(1)


@click.command()
@hub_option
@dest_option
@click.option("--keep-last", type=click.IntRange(0), default=None)
@click.option("--keep-daily", type=click.IntRange(0), default=None)
@click.option("--keep-weekly", type=click.IntRange(0), default=None)
@click.option("--keep-monthly", type=click.IntRange(0), default=None)
@click.option("--grace", default="6h", show_default=True, help="Never delete objects younger than this (e.g. 30m, 6h).")
@click.option("--no-gc", is_flag=True, help="Only forget snapshots; leave unreferenced contents for a later prune.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.pass_context
def prune(
    ctx: click.Context,
    hub: str,
    dest: str | None,
    keep_last: int | None,
    keep_daily: int | None,
    keep_weekly: int | None,
    keep_monthly: int | None,
    grace: str,
    no_gc: bool,
    dry_run: bool,
) -> None:
    """Forget snapshots the policy drops, then delete contents no snapshot needs.

    Without --keep-* flags the hub's retention from the fleet config applies. Safe while
    backups run: contents are deleted only under the destination's exclusive lock.
    """
    with _errors():
        hub, repo = _open(ctx, hub, dest)
        flags = (keep_last, keep_daily, keep_weekly, keep_monthly)
        if any(v is not None for v in flags):
            policy = engine.RetentionPolicy(*(v or 0 for v in flags))
        else:
            fleet, found = _fleet_hub(ctx, hub)
            if found is None:
                raise click.UsageError(
                    f"give --keep-last/--keep-daily/--keep-weekly/--keep-monthly "
                    f"({hub} is not in a fleet config here to take its retention from)"
                )
            from hub_ops.backup.config import retention_policy

            policy = retention_policy(fleet, found)
        report = engine.prune(
            repo,
            hub,
            policy,
            grace_s=_duration(grace),
            gc=not no_gc,
            dry_run=dry_run,
            lock_policy=engine.LockPolicy(wait_s=0),
        )
    verb = "would forget" if dry_run else "forgot"
    click.echo(f"{hub}: kept {len(report.kept)} snapshot(s), {verb} {len(report.forgotten)} ({report.policy})")
    for snapshot_id in report.forgotten:
        click.echo(f"  {verb} {snapshot_id}")
    if report.gc_skipped:
        click.echo(f"contents not pruned this time: {report.gc_skipped}", err=True)
    elif not no_gc:
        verb = "would delete" if dry_run else "deleted"
        click.echo(
            f"{verb} {report.blobs_deleted} blob(s) and {report.packs_deleted} pack(s), "
            f"{_size(report.bytes_deleted)}; {report.too_young} unreferenced but younger than {grace}"
        )


__all__ = ["backup", "snapshots", "verify", "restore", "prune"]
