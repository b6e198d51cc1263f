"""Split a hub's top-level folders (its users) between N workers: backup workers (parts.py)
and whole-hub restore workers (restore_parts.py), both by a snapshot's per-folder sizes.

Greedy by the last snapshot's sizes, largest first, each to the part with the fewest bytes
so far; folders the last snapshot did not have (new users, or no snapshot yet) are spread
by count, each to the part with the fewest such folders.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from hub_ops.backup.scan import order_key

if TYPE_CHECKING:
    from hub_ops.backup.repository import Repository


def folder_sizes(batches: Iterator) -> dict[bytes, int]:
    """Bytes per top-level name from a manifest's ("path", "size") record batches."""
    sizes: dict[bytes, int] = {}
    for batch in batches:
        for path, size in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
            top = path.split(b"/", 1)[0]
            sizes[top] = sizes.get(top, 0) + (size or 0)
    return sizes


def snapshot_folder_sizes(repo: Repository, hub: str, snapshot_id: str) -> dict[bytes, int]:
    """Bytes per top-level name (every user's folder, and any file beside them) of a snapshot."""
    from hub_ops.backup.manifest import iter_batches  # pyarrow: only when a snapshot is read

    with repo.local_manifest(hub, snapshot_id) as path:
        return folder_sizes(iter_batches(path, ["path", "size"]))


def split_folders(names: Iterable[bytes], sizes: dict[bytes, int], parts: int) -> list[list[bytes]]:
    """`names` in `parts` lists (each in manifest order); see the module docstring."""
    loads = [0] * parts
    counts = [0] * parts
    out: list[list[bytes]] = [[] for _ in range(parts)]
    names = sorted(set(names), key=order_key)
    known = sorted((n for n in names if n in sizes), key=lambda n: (-sizes[n], order_key(n)))
    for name in known:
        i = min(range(parts), key=lambda k: (loads[k], k))
        out[i].append(name)
        loads[i] += sizes[name]
    for name in (n for n in names if n not in sizes):
        i = min(range(parts), key=lambda k: (counts[k], k))
        out[i].append(name)
        counts[i] += 1
    return [sorted(part, key=order_key) for part in out]
