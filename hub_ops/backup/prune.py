"""Prune: forget a hub's snapshots its retention policy does not keep, then delete the blobs
and packs no remaining snapshot (of any hub in the destination) references, and merge the
pack indexes into one.

Safe against backups running at the same time (see locks.py):
- forgetting only deletes manifests (then their summaries) of snapshots the policy drops;
  the newest snapshot is always kept, so a running backup's parent survives;
- deleting blobs happens only under the destination's exclusive lock, which is taken only
  while no backup holds its shared lock, and which makes new backups wait. If the lock is
  busy the blob phase is skipped (reported, never an error): the next prune does it.
- belt and braces: a blob (or staging file, or orphan summary) younger than `grace_s` is
  never deleted, whatever the locks say; ages are read from the store's clock.

Idempotent; a prune killed at any point leaves every kept snapshot whole (manifests are
deleted before anything they reference, and only unreferenced blobs are ever deleted).
The merged index is written before the indexes it replaces are deleted, and those before
the packs they name, so an index never names a missing pack. A pack is deleted only when
no kept snapshot names it at all (partly used packs stay whole: no repacking yet).
A manifest that cannot be read stops the blob phase: nothing is deleted on a guess.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from hub_ops.backup import blobs
from hub_ops.backup.errors import BackupIntegrityError, LockError
from hub_ops.backup.locks import DEFAULT_GRACE_S, LockPolicy, exclusive_lock
from hub_ops.backup.manifest import iter_rows
from hub_ops.backup.packs import INDEX_PREFIX, encode_index, index_key, index_names, load_index, record_pack_id
from hub_ops.backup.part_store import local_copy, part_manifest_keys
from hub_ops.backup.repository import (
    MANIFEST_SUFFIX,
    SNAPSHOT_ID,
    SUMMARY_SUFFIX,
    Repository,
    normalize_hub,
    snapshot_time,
)
from hub_ops.backup.retention import RetentionPolicy, select_kept
from hub_ops.backup.store import TMP_NAME


@dataclass
class PruneReport:
    hub: str
    policy: str
    kept: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    blobs_total: int = 0
    blobs_referenced: int = 0
    blobs_deleted: int = 0
    bytes_deleted: int = 0
    too_young: int = 0
    packs_total: int = 0
    packs_deleted: int = 0
    indexes_merged: int = 0
    debris_deleted: int = 0
    gc_skipped: str | None = None  # why the blob phase did not run
    dry_run: bool = False


def forget_snapshots(
    repo: Repository, hub: str, policy: RetentionPolicy, *, dry_run: bool = False
) -> tuple[list[str], list[str]]:
    """(kept, forgotten) snapshot ids of `hub`; forgotten manifests are deleted unless dry_run."""
    hub = normalize_hub(hub)
    ids = repo.snapshot_ids(hub)
    kept = select_kept([(i, snapshot_time(i)) for i in ids], policy)
    forgotten = [i for i in ids if i not in kept]
    if not dry_run:
        for snapshot_id in forgotten:
            repo.store.delete(repo.manifest_key(hub, snapshot_id))  # the snapshot stops existing here
            repo.store.delete(repo.summary_key(hub, snapshot_id))
    return sorted(kept), forgotten


def referenced(repo: Repository, ignore: set[tuple[str, str]] = frozenset()) -> tuple[set[bytes], set[str]]:
    """(digests of blobs, pack ids) named by any manifest of the destination (all hubs),
    except the (hub, snapshot id) pairs in `ignore`, and by any uncommitted part manifest
    (a multi-worker snapshot's finished workers, parts.py)."""
    found: set[bytes] = set()
    packs: set[str] = set()
    keys = [
        repo.manifest_key(hub, snapshot_id)
        for hub in repo.hubs()
        for snapshot_id in repo.snapshot_ids(hub)
        if (hub, snapshot_id) not in ignore
    ]
    for key in keys + part_manifest_keys(repo.store):
        try:
            with local_copy(repo.store, key) as path:
                for cols in iter_rows(path, ["digest", "pack"]):
                    found.update(
                        bytes.fromhex(d) for d, p in zip(cols["digest"], cols["pack"]) if d is not None and p is None
                    )
                    packs.update(p for p in cols["pack"] if p is not None)
        except Exception as e:
            if isinstance(e, BackupIntegrityError):
                raise
            raise BackupIntegrityError(
                f"{repo.store.full_url(key)}: manifest unreadable ({e}); no blob deleted"
            ) from None
    return found, packs


def collect_garbage(
    repo: Repository,
    report: PruneReport,
    *,
    grace_s: float = DEFAULT_GRACE_S,
    lock_policy: LockPolicy = LockPolicy(),
    dry_run: bool = False,
    log: Callable[[str], None] | None = None,
) -> None:
    """Delete unreferenced blobs older than `grace_s` under the exclusive lock; fills `report`.
    A dry run counts what would go if the report's forgotten snapshots were gone."""
    store = repo.store
    try:
        lock = exclusive_lock(store, f"prune {report.hub}", lock_policy)
    except LockError as e:
        report.gc_skipped = str(e)
        if log:
            log(f"blob phase skipped: {e}")
        return
    with lock:
        now = store.stat(lock.key).mtime
        used_blobs, used_packs = referenced(repo, {(report.hub, i) for i in report.forgotten} if dry_run else set())
        report.blobs_referenced = len(used_blobs)
        doomed: list[tuple[str, int]] = []
        debris: list[str] = []
        for obj in store.list("blobs/"):
            digest = blobs.digest_of_key(obj.key)
            if digest is None:
                if obj.key.rsplit("/", 1)[-1].startswith(TMP_NAME) and now - obj.mtime >= grace_s:
                    debris.append(obj.key)  # an interrupted upload
                continue
            report.blobs_total += 1
            if bytes.fromhex(digest) in used_blobs:
                continue
            if now - obj.mtime < grace_s:
                report.too_young += 1
                continue
            doomed.append((obj.key, obj.size))
        doomed_packs: set[str] = set()
        for obj in store.list("packs/"):
            name = obj.key.rsplit("/", 1)[-1]
            if name.startswith(TMP_NAME):
                if now - obj.mtime >= grace_s:
                    debris.append(obj.key)
                continue
            report.packs_total += 1
            if name in used_packs:
                continue
            if now - obj.mtime < grace_s:
                report.too_young += 1
                continue
            doomed_packs.add(name)
            doomed.append((obj.key, obj.size))
        for obj in store.list("snapshots/"):
            if now - obj.mtime < grace_s:
                continue
            if obj.key.rsplit("/", 1)[-1].startswith(TMP_NAME):
                debris.append(obj.key)
            elif obj.key.endswith(SUMMARY_SUFFIX):
                name = obj.key.rsplit("/", 1)[-1][: -len(SUMMARY_SUFFIX)]
                if SNAPSHOT_ID.match(name) and store.stat(obj.key[: -len(SUMMARY_SUFFIX)] + MANIFEST_SUFFIX) is None:
                    debris.append(obj.key)
        if log:
            log(f"{len(doomed)} unreferenced blob(s) of {report.blobs_total} to delete, {len(debris)} leftover file(s)")
        for prefix in (INDEX_PREFIX, "locks/"):  # interrupted writes of indexes and locks
            debris += [
                o.key
                for o in store.list(prefix)
                if o.key.rsplit("/", 1)[-1].startswith(TMP_NAME) and now - o.mtime >= grace_s
            ]
        old_indexes = index_names(store)
        report.indexes_merged = len(old_indexes)
        if not dry_run:
            if old_indexes:  # merged index first; old ones next; the packs they name last
                records = load_index(store, old_indexes)
                live = (
                    records[[record_pack_id(p) not in doomed_packs for p in records["pack"]]]
                    if doomed_packs
                    else records
                )
                _, first = np.unique(live["digest"], return_index=True)
                store.put_bytes(index_key("merged-" + secrets.token_hex(8)), encode_index(live[np.sort(first)]))
                for key in old_indexes:
                    store.delete(key)
            workers = 8 if store.is_local else 32
            with ThreadPoolExecutor(workers, thread_name_prefix="prune") as pool:
                list(pool.map(store.delete, [k for k, _ in doomed] + debris))
        report.packs_deleted = len(doomed_packs)
        report.blobs_deleted = len(doomed) - len(doomed_packs)
        report.bytes_deleted = sum(size for _, size in doomed)
        report.debris_deleted = len(debris)


def prune(
    repo: Repository,
    hub: str,
    policy: RetentionPolicy,
    *,
    grace_s: float = DEFAULT_GRACE_S,
    lock_policy: LockPolicy = LockPolicy(),
    dry_run: bool = False,
    gc: bool = True,
    log: Callable[[str], None] | None = None,
) -> PruneReport:
    """Apply `policy` to `hub`'s snapshots, then (if `gc`) delete unreferenced blobs.
    Safe to rerun and to run while backups run (see the module docstring)."""
    hub = normalize_hub(hub)
    report = PruneReport(hub=hub, policy=policy.describe(), dry_run=dry_run)
    report.kept, report.forgotten = forget_snapshots(repo, hub, policy, dry_run=dry_run)
    if log:
        log(f"{hub}: keep {len(report.kept)} snapshot(s), forget {len(report.forgotten)} ({report.policy})")
    if gc:
        collect_garbage(repo, report, grace_s=grace_s, lock_policy=lock_policy, dry_run=dry_run, log=log)
    return report
