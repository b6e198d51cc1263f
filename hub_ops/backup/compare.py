"""Compare a folder with a snapshot: what of the snapshot is there, byte for byte in size
and time, and what is there but different.

Used around migrations: before, files of the snapshot that already exist differently in the
target are conflicts (a migration must not overwrite a user's newer work silently); after,
every file of the snapshot must be in place (file count and bytes verified).
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field

from hub_ops.backup.manifest import iter_rows
from hub_ops.backup.repository import Repository, normalize_hub


@dataclass
class Comparison:
    snapshot_id: str
    target: str
    files: int = 0  # regular files in the snapshot
    bytes: int = 0
    present_files: int = 0  # of those, in the target with the same size and mtime
    present_bytes: int = 0
    missing: int = 0  # not in the target at all
    differing: list[str] = field(default_factory=list)  # in the target, but another size/time/type (first 50)
    differing_count: int = 0

    @property
    def complete(self) -> bool:
        return self.present_files == self.files and self.present_bytes == self.bytes and not self.differing_count

    def describe(self) -> str:
        text = (
            f"{self.present_files}/{self.files} files, {self.present_bytes}/{self.bytes} bytes of {self.snapshot_id} "
            f"in place in {self.target}"
        )
        if self.differing_count:
            text += f"; {self.differing_count} differ: {', '.join(self.differing[:10])}"
        return text

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def compare_with_snapshot(
    repo: Repository, hub: str, snapshot: str, target: str | os.PathLike, user: str | None = None
) -> Comparison:
    """How much of `snapshot` of `hub` (only `user`'s folder if given) is in `target`.
    Reads the target only; never writes."""
    hub = normalize_hub(hub)
    snapshot_id = repo.resolve(hub, snapshot)
    root = os.fsencode(os.path.abspath(os.fspath(target)))
    prefix = os.fsencode(user) + b"/" if user else None
    result = Comparison(snapshot_id, os.fsdecode(root))
    with repo.local_manifest(hub, snapshot_id) as manifest:
        for cols in iter_rows(manifest, ["path", "type", "size", "mtime_ns", "link_target"]):
            for path, kind, size, mtime_ns, link in zip(
                cols["path"], cols["type"], cols["size"], cols["mtime_ns"], cols["link_target"]
            ):
                if prefix and not (path + b"/").startswith(prefix):
                    continue
                if kind == "f":
                    result.files += 1
                    result.bytes += size
                try:
                    st = os.lstat(root + b"/" + path)
                except FileNotFoundError:
                    result.missing += kind == "f"
                    continue
                same = {
                    "f": lambda: stat.S_ISREG(st.st_mode) and st.st_size == size and st.st_mtime_ns == mtime_ns,
                    "d": lambda: stat.S_ISDIR(st.st_mode),
                    "l": lambda: stat.S_ISLNK(st.st_mode) and os.readlink(root + b"/" + path) == link,
                }.get(kind, lambda: False)()
                if same and kind == "f":
                    result.present_files += 1
                    result.present_bytes += size
                elif not same:
                    result.differing_count += 1
                    if len(result.differing) < 50:
                        result.differing.append(os.fsdecode(path))
    return result
