"""Verify a snapshot: every content its manifest names is stored with the size it promises
(a blob of exactly that size; a pack long enough to hold it at its offset); `deep`
re-reads contents (all, or a random sample of the distinct ones) and re-hashes them.

Read-only: verify never changes the destination. Every problem names the file in the
homes (and how many other files share the content), the object's URL and what is wrong.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hub_ops.backup import blobs
from hub_ops.backup.errors import BackupIntegrityError
from hub_ops.backup.manifest import iter_rows
from hub_ops.backup.packs import pack_key
from hub_ops.backup.repository import Repository, normalize_hub


@dataclass
class VerifyReport:
    hub: str
    snapshot_id: str
    files: int = 0
    contents: int = 0  # distinct contents referenced
    objects: int = 0  # blobs and packs checked
    deep_checked: int = 0  # contents re-hashed
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        if self.problems:
            raise BackupIntegrityError(
                f"snapshot {self.snapshot_id} of {self.hub}: {len(self.problems)} problem(s)", self.problems
            )


@dataclass
class _Content:
    stored_size: int
    size: int
    pack: str | None
    offset: int | None
    path: bytes  # the first file with this content
    count: int = 1

    def where(self) -> str:
        others = f" (and {self.count - 1} other file(s) with the same content)" if self.count > 1 else ""
        return os.fsdecode(self.path) + others


def _manifest_unreadable(repo: Repository, hub: str, snapshot_id: str, e: Exception) -> BackupIntegrityError:
    return BackupIntegrityError(f"{repo.store.full_url(repo.manifest_key(hub, snapshot_id))}: manifest unreadable: {e}")


def verify_snapshot(
    repo: Repository,
    hub: str,
    snapshot: str = "latest",
    *,
    deep: bool = False,
    sample: float | None = None,
    workers: int | None = None,
    seed: int | None = None,
    on_object=None,
) -> VerifyReport:
    """Check the snapshot `snapshot` ("latest", an id or a prefix) of `hub`.

    deep=False: existence and size of every blob and pack. deep=True: also read back and
    re-hash every distinct content, or a random `sample` fraction of them (0 < sample <= 1).
    `on_object()` is called after each object is checked (progress displays).
    """
    hub = normalize_hub(hub)
    snapshot_id = repo.resolve(hub, snapshot)
    report = VerifyReport(hub, snapshot_id)
    contents: dict[str, _Content] = {}
    columns = ["path", "type", "size", "digest", "stored_size", "pack", "offset"]
    try:
        with repo.local_manifest(hub, snapshot_id) as path:
            for cols in iter_rows(path, columns):
                for p, kind, size, digest, stored, pack, offset in zip(*(cols[c] for c in columns)):
                    if kind != "f":
                        continue
                    report.files += 1
                    if (
                        digest is None
                        or len(digest) != blobs.DIGEST_HEX_LEN
                        or stored is None
                        or (pack is not None and offset is None)
                    ):
                        report.problems.append(f"{os.fsdecode(p)}: manifest row has no valid digest/location")
                        continue
                    c = contents.get(digest)
                    if c is None:
                        contents[digest] = _Content(stored, size, pack, offset, p)
                    else:
                        c.count += 1
                        if c.size != size:
                            report.problems.append(
                                f"{os.fsdecode(p)}: size {size} but {os.fsdecode(c.path)} has "
                                f"{c.size} for the same content"
                            )
    except BackupIntegrityError:
        raise
    except OSError as e:
        raise _manifest_unreadable(repo, hub, snapshot_id, e) from None
    except Exception as e:
        if type(e).__module__.startswith("pyarrow"):  # a damaged Parquet file
            raise _manifest_unreadable(repo, hub, snapshot_id, e) from None
        raise
    report.contents = len(contents)

    deep_set: set[str] = set()
    if deep:
        if sample is None or sample >= 1:
            deep_set = set(contents)
        elif contents:
            k = max(1, round(len(contents) * sample))
            deep_set = set(random.Random(seed).sample(sorted(contents), k))

    # one job per object: a blob, or a pack with every content of it this snapshot names
    by_pack: dict[str, list[str]] = {}
    jobs: list[tuple[str, list[str]]] = []
    for digest, c in contents.items():
        if c.pack is None:
            jobs.append((blobs.blob_key(digest), [digest]))
        else:
            by_pack.setdefault(c.pack, []).append(digest)
    jobs += [(pack_key(pack), digests) for pack, digests in by_pack.items()]
    report.objects = len(jobs)
    store = repo.store

    def check(job: tuple[str, list[str]]) -> list[str]:
        key, digests = job
        url = store.full_url(key)
        found: list[str] = []
        try:
            info = store.stat(key)
            if info is None:
                return [
                    f"{contents[d].where()}: {'pack' if contents[d].pack else 'blob'} {url} is missing" for d in digests
                ]
            if contents[digests[0]].pack is None:
                c = contents[digests[0]]
                if info.size != c.stored_size:
                    return [f"{c.where()}: blob {url} has {info.size} bytes, the manifest says {c.stored_size}"]
                if digests[0] in deep_set:
                    with store.open_read(key) as f:
                        found += _rehash(digests[0], c, blobs.iter_decoded(f), f"blob {url}")
                return found
            for d in digests:
                c = contents[d]
                if c.offset + c.stored_size > info.size:
                    found.append(
                        f"{c.where()}: pack {url} has {info.size} bytes, too short for the content at "
                        f"{c.offset}+{c.stored_size}"
                    )
            wanted = [d for d in digests if d in deep_set and contents[d].offset + contents[d].stored_size <= info.size]
            if wanted:
                data = store.read_bytes(key)
                for d in wanted:
                    c = contents[d]
                    obj = data[c.offset : c.offset + c.stored_size]
                    found += _rehash(d, c, (blobs.decode(o) for o in [obj]), f"pack {url} at {c.offset}")
            return found
        except Exception as e:  # noqa: BLE001 - a corrupt zstd frame raises zstd's own error
            return found + [f"{contents[digests[0]].where()}: {url} cannot be read: {e}"]
        finally:
            if on_object:
                on_object()

    n_workers = workers or (8 if store.is_local else 32)
    with ThreadPoolExecutor(n_workers, thread_name_prefix="verify") as pool:
        for found in pool.map(check, jobs):
            report.problems.extend(found)
    report.deep_checked = len(deep_set)
    return report


def _rehash(digest: str, c: _Content, chunks, what: str) -> list[str]:
    h, n = blobs.hasher(), 0
    try:
        for chunk in chunks:
            h.update(chunk)
            n += len(chunk)
    except Exception as e:  # noqa: BLE001 - zstd's error for a damaged frame
        return [f"{c.where()}: {what} cannot be decoded: {e}"]
    if h.hexdigest() != digest:
        return [f"{c.where()}: {what} is corrupt: content hash {h.hexdigest()[:16]}..., expected {digest[:16]}..."]
    if n != c.size:
        return [f"{c.where()}: {what} holds {n} bytes, the file had {c.size}"]
    return []
