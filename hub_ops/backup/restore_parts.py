"""A whole hub restored by N workers at once (a big hub's homes in one sitting).

The snapshot's top-level folders (its users, and any file beside them) are divided into N
shares by the snapshot's own per-folder sizes, with the division backup workers use
(split.py): every worker computes the same shares from the same manifest, so a worker
needs only its index (`hub-ops restore --part I --parts N`). Each restores its share with
`restore_snapshot(users=share)`; together they write exactly what one whole restore does.

Safe to rerun, whole or one share: a restore skips files already in place and deletes
nothing, so a rerun after a failed worker redoes only what that worker had not written.
"""

from __future__ import annotations

import os
import sys

from hub_ops.backup.errors import BackupError
from hub_ops.backup.parts import run_side_by_side
from hub_ops.backup.repository import Repository
from hub_ops.backup.split import snapshot_folder_sizes, split_folders
from hub_ops.clients.storage import Storage


def restore_shares(repo: Repository, hub: str, snapshot_id: str, workers: int) -> list[list[str]]:
    """The snapshot's top-level names in at most `workers` non-empty shares (fewer when the
    snapshot has fewer names), each in manifest order; names as os.fsdecode gives them."""
    if workers < 1:
        raise BackupError(f"workers: {workers}, expected 1 or more")
    sizes = snapshot_folder_sizes(repo, hub, snapshot_id)
    shares = split_folders(sizes, sizes, max(1, min(workers, len(sizes))))
    return [[os.fsdecode(name) for name in share] for share in shares if share]


def share_of(repo: Repository, hub: str, snapshot_id: str, part: int, parts: int) -> list[str]:
    """Share `part` (0-based) of the snapshot divided into `parts`: [] when the snapshot has
    fewer names than `parts` and this one is left without (that worker has nothing to do)."""
    if not 0 <= part < parts:
        raise BackupError(f"part {part} of {parts}: expected 0 to {parts - 1}")
    shares = restore_shares(repo, hub, snapshot_id, parts)
    return shares[part] if part < len(shares) else []


def restore_in_processes(
    url: str,
    storage: Storage,
    hub: str,
    snapshot_id: str,
    target: str,
    shares: list[list[str]],
    *,
    overwrite_newer: bool = False,
) -> None:
    """Restore each share into `target` in a process of its own, side by side; BackupError
    naming the shares whose worker failed (what the others wrote stays: rerun to finish)."""
    exits = run_side_by_side(
        _share_process, [(url, storage, hub, snapshot_id, target, share, overwrite_newer) for share in shares]
    )
    failed = [f"{i} ({len(shares[i])} folders, exit {code})" for i, code in enumerate(exits) if code != 0]
    if failed:
        raise BackupError(
            f"restore of {hub} {snapshot_id} into {target}: worker(s) for share(s) {', '.join(failed)} of "
            f"{len(shares)} failed; the other shares are restored. Rerun the restore (files in place are skipped)"
        )


def _share_process(
    url: str, storage: Storage, hub: str, snapshot_id: str, target: str, share: list[str], overwrite_newer: bool
) -> None:
    from hub_ops.backup.restore import restore_snapshot

    try:
        # processes=0: this process is already one of N; its own pool would multiply them
        restore_snapshot(
            Repository.open(url, storage),
            hub,
            target,
            snapshot_id,
            users=share,
            overwrite_newer=overwrite_newer,
            processes=0,
        )
    except BackupError as e:
        print(f"error: restore of {len(share)} folders of {hub} {snapshot_id}: {e}", file=sys.stderr)
        sys.exit(1)
