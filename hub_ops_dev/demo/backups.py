"""Demo: nightly backups of the local-demo hubs through Dagster, then the whole life of a
snapshot: an edit and an incremental backup, deep verify, a one-user restore compared
byte for byte, a prune, and the snapshots table.

Where the homes are: where the fleet says. The local-demo hubs' `home.local_path` is
`../.data/homes/local-demo/<hub>` relative to deployments/, so the demo writes small homes
there (replacing what an earlier demo wrote) and the same folders serve `make dev`
afterwards. Keeping the fleet the one source of truth beats a demo-only path mechanism;
backups, Dagster's instance and the scratch restores stay under the demo's data folder.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import os
import random
import shutil
import time
from pathlib import Path

from hub_ops_dev.demo import DemoContext

USERS = ["ada", "grace", "alan", "katherine", "edsger"]


def make_homes(root: Path, seed: int) -> int:
    """A few users' homes: notebooks, data, a course folder everyone shares, a symlink, an
    empty folder. Returns the number of files."""
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(seed)
    course = {
        f"course/week{w}/lesson{w}.ipynb": (
            '{"cells": ['
            + ",".join(f'{{"cell_type": "code", "source": "x = {i} * np.arange({w})"}}' for i in range(200))
            + "]}"
        ).encode()
        for w in range(1, 6)
    }
    files = 0
    for user in USERS:
        home = root / user
        for rel, data in course.items():
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            (home / rel).write_bytes(data)
            files += 1
        for i in range(30):
            p = home / "work" / f"analysis{i}.py"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("".join(f"result_{j} = compute({rng.random():.6f})\n" for j in range(rng.randint(5, 300))))
            files += 1
        (home / "data").mkdir()
        (home / "data" / "measurements.bin").write_bytes(rng.randbytes(rng.randint(100_000, 2_000_000)))
        files += 1
        (home / ".cache").mkdir()
        os.symlink("work/analysis0.py", home / "latest.py")
    return files


def same_tree(a: Path, b: Path) -> list[str]:
    """Differences between two trees: contents, modes, mtimes, symlink targets."""
    diffs = []
    for dirpath, dirnames, filenames in os.walk(a):
        for name in dirnames + filenames:
            pa = Path(dirpath) / name
            pb = b / pa.relative_to(a)
            sa, sb = pa.lstat(), pb.lstat() if pb.exists() or pb.is_symlink() else None
            if sb is None:
                diffs.append(f"missing {pb}")
            elif sa.st_mode != sb.st_mode or (not pa.is_dir() and sa.st_mtime_ns != sb.st_mtime_ns):
                diffs.append(f"mode/mtime differ: {pb}")
            elif pa.is_symlink() and os.readlink(pa) != os.readlink(pb):
                diffs.append(f"link target differs: {pb}")
            elif pa.is_file() and not pa.is_symlink() and not filecmp.cmp(pa, pb, shallow=False):
                diffs.append(f"content differs: {pb}")
    return diffs


def run(ctx: DemoContext) -> list[str]:
    import dagster as dg

    from hub_ops.backup import Repository, restore_snapshot, verify_snapshot
    from hub_ops.backup.config import backup_destination, backups_enabled, local_home, retention_policy
    from hub_ops.backup.prune import prune
    from hub_ops.cli.backup import format_snapshots
    from hub_ops.definitions import defs
    from hub_ops.defs.backups.partitions import backup_partition_key
    from hub_ops.defs.backups.schedules import nightly_backups
    from hub_ops.fleet import load_fleet

    out: list[str] = []
    fleet = load_fleet(ctx.fleet_root, check_files=False)
    hubs = [h for h in fleet.clusters["local-demo"].hubs if backups_enabled(h)]
    for i, hub in enumerate(hubs):
        n = make_homes(local_home(fleet, hub), seed=i)
        out.append(f"homes of {hub.id}: {n} files for {len(USERS)} users at {local_home(fleet, hub)}")

    instance = dg.DagsterInstance.get()  # SQLite under DAGSTER_HOME (set by the demo runner)
    instance.add_dynamic_partitions("hubs", [h.partition_key for h in fleet.hubs()])
    resources = dict(defs().resources)  # every domain's, as `make dev` has them
    backup_job = defs().resolve_job_def("user_home_backups_job")

    now = dt.datetime.now(dt.UTC)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=now, resources={"fleet": resources["fleet"]}
    ) as context:
        tick = nightly_backups(context)
    # the tick adds the night's backfill (Dagster's backfill daemon would create its runs);
    # the demo runs the same job for two nights itself, below
    out.append(f"nightly_backups tick at {now:%H:%M} UTC: {tick.skip_message}")

    def nightly(hub, date: str):
        started = time.monotonic()
        # the named job the nightly schedule launches, not an ephemeral one
        result = backup_job.execute_in_process(
            instance=instance,
            partition_key=str(backup_partition_key(date, hub.partition_key)),
            tags={"hub_ops/hub": hub.id, "hub_ops/kind": "backup"},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        mat = result.asset_materializations_for_node("user_home_backups")[0]
        checks = result.get_asset_check_evaluations()
        meta = mat.metadata
        out.append(
            f"  {hub.id} night {date}: snapshot {meta['snapshot_id'].value}, {meta['size'].value}, "
            f"dedupe {meta['dedupe_ratio'].value:.2f}x, verified={all(c.passed for c in checks)} "
            f"({time.monotonic() - started:.1f} s in Dagster)"
        )
        return meta

    # the two last complete days: Dagster's daily partitions end with yesterday
    night1, night2 = ((now - dt.timedelta(days=d)).date().isoformat() for d in (2, 1))
    out.append("materialize user_home_backups (Dagster, SQLite instance):")
    for hub in hubs:
        nightly(hub, night1)

    hub = hubs[0]
    edited = local_home(fleet, hub) / USERS[1] / "work" / "analysis3.py"
    with open(edited, "a") as f:
        f.write("result_extra = compute(0.5)\n")
    out.append(f"edited {edited.relative_to(local_home(fleet, hub))}; the next night backs up only that:")
    meta = nightly(hub, night2)
    out.append(
        f"  new bytes stored: {meta['new_bytes'].value} (files read: {meta['files_read'].value}); "
        f"retention forgot {meta['forgotten_snapshots'].value} snapshot(s) (daily policy: both ran today)"
    )

    repo = Repository.open(backup_destination(fleet, hub), resources["storage"].settings_value.client())
    report = verify_snapshot(repo, hub.id, "latest", deep=True)
    out.append(
        f"verify --deep: {report.files} files, {report.contents} contents re-hashed, {len(report.problems)} problems"
    )

    target = ctx.scratch("restore") / USERS[1]
    restored = restore_snapshot(repo, hub.id, target.parent, "latest", user=USERS[1])
    diffs = same_tree(local_home(fleet, hub) / USERS[1], target)
    out.append(
        f"restore --user {USERS[1]}: {restored.files} files into {target}; "
        + ("byte-identical with modes and mtimes" if not diffs else f"DIFFERENCES: {diffs[:3]}")
    )
    if diffs:
        raise RuntimeError(f"restore differs from the source: {diffs[:5]}")

    # the same from the Launchpad: restore_homes_job for the hub's partition. Naming nobody
    # puts the snapshot beside the homes, never over them; named users go into the live homes,
    # where files newer than the snapshot's copy are kept
    edited.write_text("grace's work after the last backup\n")
    for config in ({}, {"users": [USERS[1]]}):
        result = (
            defs()
            .resolve_job_def("restore_homes_job")
            .execute_in_process(
                run_config={
                    "ops": {"restore_homes": {"config": config}},
                    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
                },
                instance=instance,
                partition_key=hub.partition_key,
            )
        )
        meta = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT").event_specific_data.metadata
        out.append(
            f"restore_homes_job {config or '(no users named)'}: into {meta['into'].value}; "
            f"{meta['files'].value} files written, {meta['kept_newer'].value} newer file(s) kept"
        )
    if edited.read_text() != "grace's work after the last backup\n":
        raise RuntimeError(f"restore_homes_job replaced {edited}, newer than the snapshot's copy")

    policy = retention_policy(fleet, hub)
    pruned = prune(repo, hub.id, policy, grace_s=0)
    out.append(
        f"prune ({pruned.policy}): kept {len(pruned.kept)}, forgot {len(pruned.forgotten)} snapshot(s); "
        f"deleted {pruned.blobs_deleted} blob(s), {pruned.packs_deleted} pack(s)"
    )
    out.append(f"hub-ops snapshots --hub {hub.id}:")
    out += ["  " + line for line in format_snapshots(repo.summaries(hub.id)).splitlines()]
    return out
