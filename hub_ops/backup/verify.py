"""Verify a snapshot: every content its manifest names is stored with the size it promises
(a blob of exactly that size; a pack long enough to hold it at its offset); `deep`
re-reads contents (all, or a random sample of the distinct ones) and re-hashes them.

Read-only: verify never changes the destination. Every problem names the file in the
homes (and how many other files share the content), the object's URL and what is wrong.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from hub_ops.backup import blobs
from hub_ops.backup.errors import BackupIntegrityError
from hub_ops.backup.manifest import iter_rows
from hub_ops.backup.packs import pack_key
from hub_ops.backup.repository import Repository, normalize_hub
from hub_ops.backup.spill import BUCKETS, Buckets, digest_bucket, digest_keys


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


# one file row of the manifest, spilled by digest; then one distinct content, spilled by object
_ROW = np.dtype(
    [("key", "V32"), ("size", "<i8"), ("stored", "<i8"), ("offset", "<i8"), ("pack", "<i4"), ("row", "<i8")]
)
_CONTENT = np.dtype(_ROW.descr + [("count", "<i8"), ("ordinal", "<i8")])


@dataclass
class _Problem:
    """A problem of the file at manifest row `row` (shared by `count` files), its path
    looked up at the end: only problems keep paths, so memory does not grow with files."""

    row: int
    count: int
    text: str
    other_row: int = -1  # a second file the text names as {other}

    def format(self, paths: dict[int, bytes]) -> str:
        others = f" (and {self.count - 1} other file(s) with the same content)" if self.count > 1 else ""
        text = self.text.format(other=os.fsdecode(paths[self.other_row])) if self.other_row >= 0 else self.text
        return f"{os.fsdecode(paths[self.row])}{others}: {text}"


def _manifest_unreadable(repo: Repository, hub: str, snapshot_id: str, e: Exception) -> BackupIntegrityError:
    return BackupIntegrityError(f"{repo.store.full_url(repo.manifest_key(hub, snapshot_id))}: manifest unreadable: {e}")


@contextlib.contextmanager
def _reading_manifest(repo: Repository, hub: str, snapshot_id: str) -> Iterator[str]:
    """The local manifest; its read errors (a damaged Parquet file too) as integrity errors."""
    try:
        with repo.local_manifest(hub, snapshot_id) as path:
            yield path
    except BackupIntegrityError:
        raise
    except OSError as e:
        raise _manifest_unreadable(repo, hub, snapshot_id, e) from None
    except Exception as e:
        if type(e).__module__.startswith("pyarrow"):  # a damaged Parquet file
            raise _manifest_unreadable(repo, hub, snapshot_id, e) from None
        raise


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

    Memory is flat in the number of files: the manifest's file rows are spilled to disk by
    digest, de-duplicated a bucket at a time, and the distinct contents spilled again by
    the object holding them, which is checked with every content of it at once.
    """
    hub = normalize_hub(hub)
    snapshot_id = repo.resolve(hub, snapshot)
    report = VerifyReport(hub, snapshot_id)
    deferred: list[_Problem] = []
    with (
        _reading_manifest(repo, hub, snapshot_id) as manifest,
        tempfile.TemporaryDirectory(prefix="hub-ops-verify-") as tmp,
    ):
        rows = Buckets(tmp, "rows", _ROW)
        pack_ids = _spill_rows(manifest, rows, report)
        contents = Buckets(tmp, "contents", _CONTENT)
        report.contents = _distinct(rows, contents, deferred)
        deep_mask = _deep_mask(report.contents, deep, sample, seed)
        report.objects, found = _check_objects(repo, contents, pack_ids, deep_mask, workers, on_object)
        deferred += found
        wanted = {p.row for p in deferred} | {p.other_row for p in deferred}
        paths = _paths_of(manifest, wanted) if deferred else {}
    report.problems += [p.format(paths) for p in deferred]
    report.deep_checked = int(deep_mask.sum())
    return report


def _spill_rows(manifest: str, rows: Buckets, report: VerifyReport) -> list[str]:
    """Every file row of the manifest into `rows`, by digest; rows without a valid
    location reported. Returns the pack ids (a row's `pack` indexes them, -1: a blob)."""
    pack_ids: list[str] = []
    pack_index: dict[str, int] = {}  # one entry per pack: ~8,192 files each

    def number(pack: str) -> int:
        if pack not in pack_index:
            pack_index[pack] = len(pack_ids)
            pack_ids.append(pack)
        return pack_index[pack]

    columns = ["path", "type", "size", "digest", "stored_size", "pack", "offset"]
    row = 0
    for cols in iter_rows(manifest, columns):
        picked: list[int] = []
        for i, (kind, digest, stored, pack, offset) in enumerate(
            zip(cols["type"], cols["digest"], cols["stored_size"], cols["pack"], cols["offset"])
        ):
            if kind != "f":
                continue
            report.files += 1
            if (
                digest is None
                or len(digest) != blobs.DIGEST_HEX_LEN
                or stored is None
                or (pack is not None and offset is None)
            ):
                report.problems.append(f"{os.fsdecode(cols['path'][i])}: manifest row has no valid digest/location")
                continue
            picked.append(i)
        records = np.empty(len(picked), _ROW)
        records["key"] = digest_keys([cols["digest"][i] for i in picked])
        records["size"] = [cols["size"][i] for i in picked]
        records["stored"] = [cols["stored_size"][i] for i in picked]
        records["offset"] = [cols["offset"][i] or 0 for i in picked]
        records["pack"] = [-1 if cols["pack"][i] is None else number(cols["pack"][i]) for i in picked]
        records["row"] = np.asarray(picked, np.int64) + row
        rows.add(records, digest_bucket(records["key"]))
        row += len(cols["path"])
    return pack_ids


def _distinct(rows: Buckets, contents: Buckets, problems: list[_Problem]) -> int:
    """The distinct contents of `rows` into `contents` (by the object holding them), each
    with its first file's row, its file count and its rank in digest order; files whose
    size differs from the first file of the same content reported. Returns how many."""
    total = 0
    for records in rows:  # buckets are ranges of digests, in order
        records = records[np.argsort(records["key"], kind="stable")]  # files of a content in row order
        keys = records["key"]
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        counts = np.diff(np.append(starts, len(records)))
        first = np.repeat(starts, counts)
        for j in np.flatnonzero(records["size"] != records["size"][first]):
            f = records[first[j]]
            problems.append(
                _Problem(
                    int(records["row"][j]),
                    1,
                    f"size {records['size'][j]} but {{other}} has {f['size']} for the same content",
                    int(f["row"]),
                )
            )
        out = np.empty(len(starts), _CONTENT)
        for name in _ROW.names:
            out[name] = records[name][starts]
        out["count"] = counts
        out["ordinal"] = total + np.arange(len(starts))
        total += len(starts)
        # a pack's contents together (a pack is read once), blobs spread by digest
        contents.add(out, np.where(out["pack"] >= 0, out["pack"] % BUCKETS, digest_bucket(out["key"])))
    return total


def _deep_mask(contents: int, deep: bool, sample: float | None, seed: int | None) -> np.ndarray:
    """Which contents (by rank in digest order) to re-hash: a byte per content."""
    mask = np.zeros(contents, bool)
    if deep:
        if sample is None or sample >= 1:
            mask[:] = True
        elif contents:
            k = max(1, round(contents * sample))
            mask[np.random.default_rng(seed).choice(contents, k, replace=False)] = True
    return mask


def _jobs(contents: Buckets, pack_ids: list[str]) -> Iterator[tuple[str, str | None, np.ndarray]]:
    """One job per object: (key, pack id or None for a blob, the contents it holds)."""
    for records in contents:
        for c in records[records["pack"] < 0]:
            yield blobs.blob_key(bytes(c["key"]).hex()), None, c[np.newaxis]
        packed = records[records["pack"] >= 0]
        packed = packed[np.lexsort((packed["offset"], packed["pack"]))]
        bounds = np.flatnonzero(np.diff(packed["pack"])) + 1
        for part in np.split(packed, bounds) if len(packed) else []:
            pack = pack_ids[part["pack"][0]]
            yield pack_key(pack), pack, part


def _check_objects(
    repo: Repository, contents: Buckets, pack_ids: list[str], deep_mask: np.ndarray, workers, on_object
) -> tuple[int, list[_Problem]]:
    """Check every object in `workers` threads, a bounded number of jobs queued (in job
    order, so problems come in a stable order). Returns (objects, problems)."""
    store = repo.store

    def check(key: str, pack: str | None, part: np.ndarray) -> list[_Problem]:
        url = store.full_url(key)
        found: list[_Problem] = []

        def problem(c, text: str) -> _Problem:
            return _Problem(int(c["row"]), int(c["count"]), text)

        try:
            info = store.stat(key)
            if info is None:
                return [problem(c, f"{'pack' if pack else 'blob'} {url} is missing") for c in part]
            if pack is None:
                c = part[0]
                if info.size != c["stored"]:
                    return [problem(c, f"blob {url} has {info.size} bytes, the manifest says {c['stored']}")]
                if deep_mask[c["ordinal"]]:
                    with store.open_read(key) as f:
                        found += [problem(c, t) for t in _rehash(c, blobs.iter_decoded(f), f"blob {url}")]
                return found
            ends = part["offset"] + part["stored"]
            for c in part[ends > info.size]:
                found.append(
                    problem(
                        c,
                        f"pack {url} has {info.size} bytes, too short for the content at {c['offset']}+{c['stored']}",
                    )
                )
            wanted = part[(ends <= info.size) & deep_mask[part["ordinal"]]]
            if len(wanted):
                data = store.read_bytes(key)
                for c in wanted:
                    obj = data[c["offset"] : c["offset"] + c["stored"]]
                    what = f"pack {url} at {c['offset']}"
                    found += [problem(c, t) for t in _rehash(c, (blobs.decode(o) for o in [obj]), what)]
            return found
        except Exception as e:  # noqa: BLE001 - a corrupt zstd frame raises zstd's own error
            return found + [problem(part[0], f"{url} cannot be read: {e}")]
        finally:
            if on_object:
                on_object()

    n_workers = workers or (8 if store.is_local else 32)
    objects, problems = 0, []
    queued: deque[Future] = deque()
    with ThreadPoolExecutor(n_workers, thread_name_prefix="verify") as pool:
        for job in _jobs(contents, pack_ids):
            objects += 1
            queued.append(pool.submit(check, *job))
            while len(queued) > 4 * n_workers:
                problems += queued.popleft().result()
        while queued:
            problems += queued.popleft().result()
    return objects, problems


def _paths_of(manifest: str, rows: set[int]) -> dict[int, bytes]:
    """The paths of the manifest rows `rows`."""
    paths: dict[int, bytes] = {}
    row = 0
    for cols in iter_rows(manifest, ["path"]):
        n = len(cols["path"])
        paths.update((r, cols["path"][r - row]) for r in rows if row <= r < row + n)
        row += n
    return paths


def _rehash(c: np.void, chunks, what: str) -> list[str]:
    digest = bytes(c["key"]).hex()
    h, n = blobs.hasher(), 0
    try:
        for chunk in chunks:
            h.update(chunk)
            n += len(chunk)
    except Exception as e:  # noqa: BLE001 - zstd's error for a damaged frame
        return [f"{what} cannot be decoded: {e}"]
    if h.hexdigest() != digest:
        return [f"{what} is corrupt: content hash {h.hexdigest()[:16]}..., expected {digest[:16]}..."]
    if n != c["size"]:
        return [f"{what} holds {n} bytes, the file had {c['size']}"]
    return []
