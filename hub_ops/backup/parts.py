"""One snapshot written by several workers (a big hub's homes in one night).

1. `make_plan` splits the users' top-level folders into N parts (split.py) and writes the
   plan: the snapshot id and parent every part uses, and each part's folders.
2. `run_part` backs up one part (a process, or a Kubernetes Job): create_snapshot restricted
   to the part's folders, uploading its packs and blobs as usual, its manifest written to a
   *part* key (`snapshots/<cluster>/<hub>/parts/<plan id>/part-NNNN.parquet`) where no
   listing sees a snapshot. Rerunning a failed part skips what it already uploaded.
3. `commit_parts`, once every part exists, merges the part manifests in manifest order into
   the snapshot's manifest, written last as for one worker, then deletes the parts.

Until the commit no snapshot is visible, whichever workers failed. Prune reads the part
manifests too (`part_manifest_keys`), so a finished part's packs survive until its commit.
Top-level folders created after the plan are in the next snapshot, not this one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from hub_ops.backup.errors import BackupError, BackupIntegrityError, SourceError
from hub_ops.backup.locks import LockPolicy, shared_lock
from hub_ops.backup.manifest import ManifestWriter, SnapshotSummary, iter_batches, read_summary
from hub_ops.backup.part_store import PLAN_NAME, local_copy, part_key, plan_prefix
from hub_ops.backup.repository import Repository, new_snapshot_id, normalize_hub
from hub_ops.backup.scan import order_key
from hub_ops.backup.snapshot import BackupOptions, PartOf, Progress, _Distinct, create_snapshot
from hub_ops.backup.split import snapshot_folder_sizes, split_folders
from hub_ops.clients.storage import Storage


@dataclass
class Plan:
    id: str  # the snapshot id every part writes under
    hub: str
    source: str
    parent: str | None
    created: str
    parts: list[list[str]]  # per part, top-level names (os.fsdecode: any bytes survive JSON)

    def folders(self, index: int) -> frozenset[bytes]:
        return frozenset(os.fsencode(name) for name in self.parts[index])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def make_plan(
    repo: Repository,
    hub: str,
    source: str | os.PathLike,
    workers: int,
    *,
    parent: bool = True,
    reuse_pending: bool = False,
    now=None,
) -> Plan:
    """Split `source`'s top-level folders into `workers` parts by the last snapshot's sizes
    (parent=False: no parent, every file is read) and write the plan.

    reuse_pending: return the hub's newest uncommitted plan instead, unchanged, when it
    still fits (same folders, same number of parts, same parent), so a rerun after a failed
    worker runs only the parts that are missing (`missing_parts`)."""
    hub = normalize_hub(hub)
    root = os.path.abspath(os.fspath(source))
    if not os.path.isdir(root):
        raise SourceError(f"{root}: not a folder (the hub's home directories are expected there)")
    if workers < 1:
        raise BackupError(f"workers: {workers}, expected 1 or more")
    created = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    ids = repo.snapshot_ids(hub)
    parent_id = ids[-1] if parent and ids else None
    sizes = snapshot_folder_sizes(repo, hub, parent_id) if parent_id else {}
    with os.scandir(root) as it:
        names = [os.fsencode(e.name) for e in it]
    if reuse_pending and (pending := pending_plans(repo, hub)):
        last = load_plan(repo, hub, pending[-1])
        same_folders = sorted(n for part in last.parts for n in part) == sorted(os.fsdecode(n) for n in names)
        if same_folders and len(last.parts) == workers and last.parent == parent_id:
            return last
    plan = Plan(
        id=new_snapshot_id(created, after=ids[-1] if ids else None),
        hub=hub,
        source=root,
        parent=parent_id,
        created=created.isoformat(timespec="seconds"),
        parts=[[os.fsdecode(n) for n in part] for part in split_folders(names, sizes, workers)],
    )
    repo.store.put_bytes(plan_prefix(repo, hub, plan.id) + PLAN_NAME, plan.to_json().encode())
    return plan


def pending_plans(repo: Repository, hub: str) -> list[str]:
    """Ids of the hub's plans not committed yet (planned, some parts maybe done), oldest first."""
    prefix = repo.hub_prefix(normalize_hub(hub)) + "parts/"
    return sorted(
        o.key[len(prefix) :].split("/", 1)[0] for o in repo.store.list(prefix) if o.key.endswith("/" + PLAN_NAME)
    )


def discard_plan(repo: Repository, hub: str, plan_id: str) -> None:
    """Delete a plan and its part manifests (their packs go at the next prune unless a
    snapshot uses them). For plans superseded by a later commit; never for a running one."""
    _delete_plan(repo, load_plan(repo, hub, plan_id))


def load_plan(repo: Repository, hub: str, plan_id: str) -> Plan:
    key = plan_prefix(repo, hub, plan_id) + PLAN_NAME
    try:
        raw = repo.store.read_bytes(key)
    except FileNotFoundError:
        raise BackupError(
            f"no plan {plan_id} of {normalize_hub(hub)} in {repo.url} ({repo.store.full_url(key)} missing; "
            "committed already, or never planned: `hub-ops backup --plan-only` writes one)"
        ) from None
    try:
        return Plan(**json.loads(raw))
    except (ValueError, TypeError) as e:
        raise BackupIntegrityError(f"{repo.store.full_url(key)}: unreadable plan ({e})") from None


def run_part(
    repo: Repository,
    plan: Plan,
    index: int,
    options: BackupOptions | None = None,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> SnapshotSummary:
    """Back up part `index` of `plan` (from its source folder); safe to rerun."""
    if not 0 <= index < len(plan.parts):
        raise BackupError(f"part {index} of plan {plan.id}: the plan has parts 0 to {len(plan.parts) - 1}")
    target = PartOf(plan.id, plan.parent, plan.folders(index), part_key(repo, plan.hub, plan.id, index))
    options = dataclasses.replace(options or BackupOptions(), parent="latest")  # the plan's parent, via `target`
    return create_snapshot(repo, plan.hub, plan.source, options, progress, log=log, part=target)


def run_side_by_side(target, args_of_each: list[tuple]) -> list[int]:
    """Run `target(*args)` for each args in a process of its own, all at once; their exit codes."""
    spawn = multiprocessing.get_context("spawn")  # no forked copy of the caller's threads and clients
    procs = [spawn.Process(target=target, args=args) for args in args_of_each]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return [proc.exitcode for proc in procs]


def run_part_processes(url: str, storage: Storage, plan: Plan, options: BackupOptions | None = None) -> None:
    """Run every part of `plan` (destination `url`) in a process of its own, side by side;
    BackupError naming the parts whose worker failed (nothing is committed then)."""
    exits = run_side_by_side(_part_process, [(url, storage, plan, i, options) for i in range(len(plan.parts))])
    failed = [f"{i} (exit {code})" for i, code in enumerate(exits) if code != 0]
    if failed:
        raise BackupError(
            f"plan {plan.id} of {plan.hub}: worker(s) for part(s) {', '.join(failed)} failed; no snapshot written. "
            f"Rerun each with `hub-ops backup --hub {plan.hub} --dest {url} --plan {plan.id} --part I` "
            f"(uploads are reused), then `--commit {plan.id}`"
        )


def _part_process(url: str, storage: Storage, plan: Plan, index: int, options: BackupOptions | None) -> None:
    try:
        run_part(Repository.open(url, storage), plan, index, options)
    except BackupError as e:
        print(f"error: part {index} of plan {plan.id}: {e}", file=sys.stderr)
        sys.exit(1)


def missing_parts(repo: Repository, plan: Plan) -> list[int]:
    return [i for i in range(len(plan.parts)) if repo.store.stat(part_key(repo, plan.hub, plan.id, i)) is None]


class _PartRows:
    """One part manifest's rows, handed out a top-level folder at a time (in the part's
    order, which is the plan's folders' manifest order)."""

    def __init__(self, path: str):
        self._batches = iter_batches(path)
        self._table = None
        self._tops: list[bytes] = []
        self._at = 0

    def _fill(self) -> bool:
        while self._table is None or self._at >= self._table.num_rows:
            batch = next(self._batches, None)
            if batch is None:
                return False
            import pyarrow as pa

            self._table = pa.Table.from_batches([batch])
            self._tops = [p.split(b"/", 1)[0] for p in batch.column(0).to_pylist()]
            self._at = 0
        return True

    def take(self, folder: bytes) -> Iterator:
        """Tables of the rows below `folder` (and its own row), from the current position."""
        while self._fill() and self._tops[self._at] == folder:
            end = self._at
            while end < len(self._tops) and self._tops[end] == folder:
                end += 1
            yield self._table.slice(self._at, end - self._at)
            self._at = end

    def leftover(self) -> bytes | None:
        return self._tops[self._at] if self._fill() else None


def _merged_summary(plan: Plan, parts: list[SnapshotSummary], compression: str) -> SnapshotSummary:
    summary = SnapshotSummary(
        id=plan.id, hub=plan.hub, created=plan.created, parent=plan.parent, source=plan.source, compression=compression
    )
    summary.workers = len(parts)
    for part in parts:
        for name in ("files", "dirs", "symlinks", "bytes", "hashed_files", "hashed_bytes", "new_blobs", "new_bytes"):
            setattr(summary, name, getattr(summary, name) + getattr(part, name))
        summary.new_packs += part.new_packs
        summary.unreadable_count += part.unreadable_count
        summary.unreadable = (summary.unreadable + part.unreadable)[:100]
        for kind, n in part.skipped.items():
            summary.skipped[kind] = summary.skipped.get(kind, 0) + n
    summary.duration_s = max((p.duration_s for p in parts), default=0.0)  # workers run side by side
    return summary


def commit_parts(
    repo: Repository,
    hub: str,
    plan_id: str,
    lock_policy: LockPolicy = LockPolicy(),
    log: Callable[[str], None] | None = None,
) -> SnapshotSummary:
    """Merge the plan's part manifests into its snapshot (manifest last) and delete them.
    Raises BackupError naming the missing parts when a worker has not finished."""
    hub = normalize_hub(hub)
    plan = load_plan(repo, hub, plan_id)
    missing = missing_parts(repo, plan)
    if missing:
        raise BackupError(
            f"plan {plan.id} of {hub}: part(s) {', '.join(map(str, missing))} of {len(plan.parts)} missing "
            f"(not run yet, or failed): run `hub-ops backup --hub {hub} --plan {plan.id} --part I` for each, "
            "then commit again; no snapshot written"
        )
    # under the shared lock, as a backup: a prune's blob phase never sees half a commit
    with shared_lock(repo.store, f"commit {hub} {plan.id}", lock_policy) as lock:
        if repo.store.stat(repo.manifest_key(hub, plan.id)) is None:
            summary = _merge(repo, plan, lock)
        else:  # committed before; the cleanup was cut short
            summary = repo.summary(hub, plan.id)
        _delete_plan(repo, plan)
    if log:
        log(f"snapshot {summary.id}: {len(plan.parts)} parts merged, {summary.files} files, {summary.bytes} bytes")
    return summary


def _merge(repo: Repository, plan: Plan, lock) -> SnapshotSummary:
    """Write the snapshot of the plan's parts: rows a top-level folder at a time, each from
    its part, in manifest order; summary JSON, then the manifest (the commit)."""
    started = time.monotonic()
    store, hub = repo.store, plan.hub
    part_of = {os.fsencode(name): i for i, names in enumerate(plan.parts) for name in names}
    with tempfile.TemporaryDirectory(prefix="hub-ops-commit-") as tmp, contextlib.ExitStack() as stack:
        keys = [part_key(repo, hub, plan.id, i) for i in range(len(plan.parts))]
        paths = [stack.enter_context(local_copy(store, key)) for key in keys]
        part_summaries = [read_summary(p) for p in paths]
        summary = _merged_summary(plan, part_summaries, part_summaries[0].compression)
        ids = repo.snapshot_ids(hub)
        if ids and ids[-1] >= summary.id:  # another snapshot committed since the plan
            summary.id = new_snapshot_id(after=ids[-1])
        rows = [_PartRows(p) for p in paths]
        writer = ManifestWriter(os.path.join(tmp, "manifest.parquet"))
        distinct = _Distinct(tmp)
        try:
            for folder in sorted(part_of, key=order_key):
                for table in rows[part_of[folder]].take(folder):
                    writer.write(table)
                    _add_files(distinct, table)
            for i, part in enumerate(rows):
                if (stray := part.leftover()) is not None:
                    raise BackupIntegrityError(
                        f"part {i} of plan {plan.id}: rows of {os.fsdecode(stray)!r}, not a folder the plan gave it"
                    )
        except BaseException:
            writer.abort()
            raise
        summary.unique_bytes, summary.stored_bytes = distinct.totals()
        summary.duration_s = round(summary.duration_s + time.monotonic() - started, 3)
        writer.close(summary)
        store.put_bytes(repo.summary_key(hub, summary.id), summary.to_json().encode())
        lock.check()
        store.put_file(repo.manifest_key(hub, summary.id), writer.path)  # the commit
    return summary


def _add_files(distinct: _Distinct, table) -> None:
    import pyarrow as pa

    is_file = table.column("type").to_numpy(zero_copy_only=False) == "f"
    if is_file.any():
        files = table.filter(pa.array(is_file))
        distinct.add(
            files.column("digest").combine_chunks(),
            files.column("size").to_numpy(),
            files.column("stored_size").to_numpy(),
        )


def _delete_plan(repo: Repository, plan: Plan) -> None:
    for i in range(len(plan.parts)):
        repo.store.delete(part_key(repo, plan.hub, plan.id, i))
    repo.store.delete(plan_prefix(repo, plan.hub, plan.id) + PLAN_NAME)
