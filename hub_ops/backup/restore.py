"""Restore a snapshot (whole, one user, or paths matching globs) into a target folder.

Byte-identical: contents are re-hashed while written (a corrupt blob fails naming the file),
modes and mtimes are set on files, folders and symlinks, and owners too when running as
root. Each file is written to a temporary name beside it and renamed into place, so a
crash leaves whole files only; a file already in the target with the snapshot's size,
mtime and mode is taken as restored, so a rerun after a crash finishes quickly.

Never writes outside `target`:
- before anything is written, the selection is checked: absolute paths, empty, `.` or `..`
  components, entries below a symlink of the snapshot, and symlinks pointing outside the
  target (absolute, or climbing above it) are refused, and the restore stops listing them
  all (`skip_refused=True` restores the rest instead; `allow_external_links=True` restores
  links pointing out as they were, since a link alone writes nothing);
- while writing, every folder on the way is checked to be a real folder (never a symlink
  already in the target), files replace only files or symlinks, never folders;
- symlinks are created last, after every file and folder, so no write can pass through one.

Nothing in the target is deleted: files the snapshot does not have are left alone.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import re
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from hub_ops.backup import blobs
from hub_ops.backup.errors import BackupError, BackupIntegrityError, RestoreRefusedError
from hub_ops.backup.manifest import iter_rows
from hub_ops.backup.packs import pack_key
from hub_ops.backup.repository import Repository, normalize_hub

TMP_PREFIX = ".hub-ops-restore-"
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _copy_file(src: bytes, fd: int, size: int) -> None:
    with open(src, "rb") as f:
        done = 0
        while done < size:
            try:
                n = os.copy_file_range(f.fileno(), fd, size - done)
            except OSError as e:  # an older kernel or filesystem: copy through user space
                if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                chunk = f.read(min(size - done, 4 << 20))
                n = len(chunk)
                _write_all(fd, chunk)
            if n == 0:
                raise BackupIntegrityError(f"{os.fsdecode(src)}: changed while being copied during the restore")
            done += n


@dataclass
class RestoreReport:
    hub: str
    snapshot_id: str
    target: str
    files: int = 0
    bytes: int = 0
    dirs: int = 0
    symlinks: int = 0
    already_there: int = 0
    refused: list[str] = field(default_factory=list)


@dataclass
class RestoreProgress:
    files: int = 0
    bytes: int = 0
    expected_files: int = 0
    expected_bytes: int = 0


def _refusal(path: bytes) -> str | None:
    if not path:
        return "empty path"
    if path.startswith(b"/"):
        return "absolute path"
    if b"\x00" in path:
        return "NUL byte in path"
    for part in path.split(b"/"):
        if part in (b"", b".", b".."):
            return f"path component {part.decode() or '(empty)'!r} would leave its folder"
    return None


def _link_escapes(path: bytes, target: bytes) -> bool:
    if target.startswith(b"/"):
        return True
    depth = path.count(b"/")  # folders between the target root and the link
    for part in target.split(b"/"):
        if part == b"..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in (b"", b"."):
            depth += 1
    return False


class _Selector:
    def __init__(self, user: str | None, globs: list[str] | None):
        self.user = None
        if user is not None:
            if not user or "/" in user or user in (".", ".."):
                raise BackupError(f"user {user!r}: expected the name of one home folder")
            self.user = os.fsencode(user)
        self.patterns = [re.compile(fnmatch.translate(g.strip("/")).encode()) for g in globs or []]

    def __call__(self, path: bytes) -> bool:
        if self.user is not None and not (path == self.user or path.startswith(self.user + b"/")):
            return False
        if not self.patterns:
            return True
        # a pattern selects an entry and everything below it
        parts = path.split(b"/")
        for i in range(1, len(parts) + 1):
            prefix = b"/".join(parts[:i])
            if any(p.match(prefix) for p in self.patterns):
                return True
        return False


def restore_snapshot(repo: Repository, hub: str, target: str | os.PathLike, snapshot: str = "latest", *,
                     user: str | None = None, globs: list[str] | None = None, allow_external_links: bool = False,
                     skip_refused: bool = False, workers: int | None = None,
                     progress: RestoreProgress | None = None, log: Callable[[str], None] | None = None) -> RestoreReport:
    """Restore `snapshot` of `hub` into `target` (created if missing). Idempotent.

    Raises RestoreRefusedError (nothing written) when entries would escape the target,
    unless `skip_refused`; raises BackupIntegrityError naming the file when a blob is
    missing or corrupt (files before it are restored, rerun after repairing).
    """
    hub = normalize_hub(hub)
    snapshot_id = repo.resolve(hub, snapshot)
    select = _Selector(user, globs)
    root = os.path.abspath(os.fspath(target))
    report = RestoreReport(hub, snapshot_id, root)
    progress = progress or RestoreProgress()
    with repo.local_manifest(hub, snapshot_id) as manifest:
        # ---- pass 1: check the selection before writing anything
        links: set[bytes] = set()
        refused: list[str] = []
        refused_paths: set[bytes] = set()
        selected = 0
        for cols in iter_rows(manifest, ["path", "type", "size", "link_target"]):
            for path, kind, size, link in zip(cols["path"], cols["type"], cols["size"], cols["link_target"]):
                if not select(path):
                    continue
                selected += 1
                why = _refusal(path)
                if why is None:
                    parts = path.split(b"/")
                    under = next((b"/".join(parts[:i]) for i in range(1, len(parts)) if b"/".join(parts[:i]) in links), None)
                    if under is not None:
                        why = f"below the symlink {os.fsdecode(under)} of the same snapshot"
                if why is None and kind == "l":
                    links.add(path)
                    if link is None:
                        why = "symlink without a target"
                    elif not allow_external_links and _link_escapes(path, link):
                        why = f"symlink pointing outside the target ({os.fsdecode(link)})"
                if why is None and kind not in ("f", "d", "l"):
                    why = f"unknown entry type {kind!r}"
                if why:
                    refused.append(f"{os.fsdecode(path)}: {why}")
                    refused_paths.add(path)
                elif kind == "f":
                    progress.expected_files += 1
                    progress.expected_bytes += size
        if refused and not skip_refused:
            raise RestoreRefusedError(f"restore of {snapshot_id} of {hub} into {root} refused, nothing written", refused)
        report.refused = refused
        if selected == 0:
            what = f"user {user!r}" if user else ("paths matching " + ", ".join(globs)) if globs else "anything"
            raise BackupError(f"snapshot {snapshot_id} of {hub} has no {what}")
        if log:
            log(f"restoring {progress.expected_files} files ({progress.expected_bytes} bytes) of {snapshot_id} into {root}")

        # ---- pass 2: folders and files
        writer = _Writer(repo, root, report, progress)
        n_workers = workers or (_local_workers() if repo.store.is_local else 32)
        dir_meta: list[tuple[bytes, int, int, int, int]] = []
        link_rows: list[tuple[bytes, bytes, int, int, int]] = []
        pending: deque[Future] = deque()

        def settle(limit: int) -> None:  # bounded queue, no barrier between manifest batches
            while len(pending) > limit:
                pending.popleft().result()

        with contextlib.ExitStack() as stack:
            blob_pool = stack.enter_context(ThreadPoolExecutor(n_workers, thread_name_prefix="restore"))
            # Local: packs (small files) get a pool of their own, half as many threads. A large
            # content is decoded, hashed and written in long calls that release the GIL; a small
            # file is a few short syscalls, each handing the GIL to another thread and back, so
            # many threads on small files mostly contend. Measured on 2 cores: 49,760 small files
            # 2.0-2.9 s in one pool of 4, 1.9-2.0 s with 1 pack thread, 1.6-1.7 s with 2 (3:
            # 1.8 s); the benchmark tree 3.1-4.6 s in one pool, 2.6-3.2 s with 4 + 2 threads.
            packs_pool = blob_pool if not repo.store.is_local else stack.enter_context(
                ThreadPoolExecutor(max(1, n_workers // 2), thread_name_prefix="restore-packs"))
            for cols in iter_rows(manifest):
                # one job per stored object: a blob, or a pack and the contents wanted from it
                groups: dict[str, list[tuple[bytes, int, int, int, int, int]]] = {}
                packed: dict[str, dict[str, tuple[int, int]]] = {}
                for i, path in enumerate(cols["path"]):
                    if path in refused_paths or not select(path):
                        continue
                    kind = cols["type"][i]
                    if kind == "d":  # created by the workers as files need them, empty ones last
                        dir_meta.append((path, cols["mode"][i], cols["mtime_ns"][i], cols["uid"][i], cols["gid"][i]))
                    elif kind == "l":
                        link_rows.append((path, cols["link_target"][i], cols["mtime_ns"][i], cols["uid"][i], cols["gid"][i]))
                    else:
                        digest = cols["digest"][i]
                        groups.setdefault(digest, []).append(
                            (path, cols["size"][i], cols["mode"][i], cols["mtime_ns"][i], cols["uid"][i], cols["gid"][i]))
                        if cols["pack"][i] is not None:
                            packed.setdefault(cols["pack"][i], {})[digest] = (cols["offset"][i], cols["stored_size"][i])
                in_packs = {d for contents in packed.values() for d in contents}
                blob_jobs = [(d, entries) for d, entries in groups.items() if d not in in_packs]
                blob_jobs.sort(key=lambda job: -job[1][0][1])  # largest first: no lone big file at the end
                for digest, entries in blob_jobs:
                    pending.append(blob_pool.submit(writer.restore_blob, digest, entries))
                    settle(4 * n_workers)
                for pack, contents in packed.items():
                    pending.append(packs_pool.submit(writer.restore_pack, pack,
                                                     {d: (loc, groups[d]) for d, loc in contents.items()}))
                    settle(4 * n_workers)
            settle(0)
        # ---- pass 3: empty folders, symlinks, then folder modes and times, deepest first
        for path, *_ in dir_meta:
            writer.make_dir(path)
        for path, link, mtime_ns, uid, gid in link_rows:
            writer.make_link(path, link, mtime_ns, uid, gid)
        for path, mode, mtime_ns, uid, gid in reversed(dir_meta):
            writer.finish_dir(path, mode, mtime_ns, uid, gid)
        report.dirs = len(dir_meta)
    if writer.problems:
        raise RestoreRefusedError(f"restore of {snapshot_id} into {root}: {len(writer.problems)} entries not written",
                                  writer.problems)
    return report


def _local_workers() -> int:
    """Twice the CPUs this process may use, at most 16. Restoring from a local destination
    is CPU work (decompress, hash, and the kernel's file creation and page copies); more
    threads than that only contend in the kernel. Measured on 2 cores, ext4, one pool for
    everything: 16 threads 3.7-9.4 s, 8: 3.2-4.1 s, 4: 2.6-3.5 s (sys time 2.1-2.9 s
    against 3.0-14 s)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
    return max(2, min(16, 2 * cpus))


class _Writer:
    def __init__(self, repo: Repository, root: str, report: RestoreReport, progress: RestoreProgress):
        self.repo, self.report, self.progress = repo, report, progress
        self.root = os.fsencode(root)
        os.makedirs(root, exist_ok=True)
        self._dirs: set[bytes] = {b""}  # relative folders known to be real folders in the target
        self._lock = threading.Lock()
        self.problems: list[str] = []
        self.as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.owner = (os.geteuid(), os.getegid())  # files are created owned by us
        self.umask = os.umask(0o022)
        os.umask(self.umask)  # read it back: os.umask can only read by setting

    def _abs(self, rel: bytes) -> bytes:
        return self.root + b"/" + rel if rel else self.root

    def _ensure_dir(self, rel: bytes) -> None:
        """Make `rel` a real folder in the target, refusing to go through a symlink."""
        if rel in self._dirs:
            return
        parent = rel.rpartition(b"/")[0]
        self._ensure_dir(parent)
        p = self._abs(rel)
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            try:
                os.mkdir(p, 0o700)
            except FileExistsError:
                pass
            st = os.lstat(p)
        if not stat.S_ISDIR(st.st_mode):
            what = "a symlink" if stat.S_ISLNK(st.st_mode) else "a file"
            raise _InTheWay(f"{os.fsdecode(rel)} in the target is {what}, not a folder")
        with self._lock:
            self._dirs.add(rel)

    def _problem(self, path: bytes, why: str) -> None:
        with self._lock:
            self.problems.append(f"{os.fsdecode(path)}: {why}")

    def make_dir(self, rel: bytes) -> None:
        try:
            self._ensure_dir(rel)
        except _InTheWay as e:
            self._problem(rel, str(e))

    def restore_blob(self, digest: str, entries: list[tuple[bytes, int, int, int, int, int]]) -> None:
        key = blobs.blob_key(digest)

        def chunks():
            try:
                with self.repo.store.open_read(key) as src:
                    yield from blobs.iter_decoded(src)
            except FileNotFoundError:
                raise BackupIntegrityError(
                    f"{os.fsdecode(entries[0][0])}: blob {self.repo.store.full_url(key)} is missing") from None

        self._restore_content(digest, entries, chunks, f"blob {self.repo.store.full_url(key)}")

    def restore_pack(self, pack_id: str, contents: dict[str, tuple[tuple[int, int], list]]) -> None:
        key = pack_key(pack_id)
        url = self.repo.store.full_url(key)
        start = min(offset for (offset, _), _ in contents.values())
        end = max(offset + stored for (offset, stored), _ in contents.values())
        try:
            data = self.repo.store.read_range(key, start, end)  # one read for the contents wanted here
        except FileNotFoundError:
            first = next(iter(contents.values()))[1][0][0]
            raise BackupIntegrityError(f"{os.fsdecode(first)}: pack {url} is missing") from None
        for digest, ((offset, stored), entries) in contents.items():
            what = f"pack {url} at {offset}"
            content = self._decoded(data[offset - start:offset - start + stored], entries[0][0], what)
            self._check(content, digest, entries[0][1], entries[0][0], what)
            self._restore_content(digest, entries, content, what)

    @staticmethod
    def _decoded(obj: bytes, path: bytes, what: str) -> bytes:
        with _decoding(path, what):
            return blobs.decode(obj)

    @staticmethod
    def _check(content: bytes, digest: str, size: int, path: bytes, what: str) -> None:
        if len(content) != size or blobs.digest_bytes(content) != digest:
            raise _corrupt(path, what)

    def _restore_content(self, digest: str, entries: list[tuple[bytes, int, int, int, int, int]], content,
                         what: str) -> None:
        """Write every file of one content. `content`: the bytes (small contents, already
        checked), or a function streaming the stored object's chunks (checked as written)."""
        first: bytes | None = None  # a file of this content already written: copy it
        for path, size, mode, mtime_ns, uid, gid in entries:
            try:
                self._ensure_dir(path.rpartition(b"/")[0])
            except _InTheWay as e:
                self._problem(path, str(e))
                continue
            final = self._abs(path)
            perm = stat.S_IMODE(mode)
            # Nothing there (the usual case, tried first: no lstat): write in place; a crash
            # leaves a file whose mtime is not the snapshot's, which a rerun rewrites.
            # Something there: write beside it and rename over it, so the old file is
            # replaced whole or not at all.
            dest = final
            try:
                fd = os.open(dest, _CREATE_FLAGS, perm & 0o777)
            except FileExistsError:
                st = os.lstat(final)
                if stat.S_ISDIR(st.st_mode):
                    self._problem(path, "a folder in the target is in the way")
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_size == size and st.st_mtime_ns == mtime_ns and st.st_mode == mode:
                    with self._lock:
                        self.report.already_there += 1
                        self.progress.files += 1
                        self.progress.bytes += size
                    first = first or final
                    continue
                dest = final.rpartition(b"/")[0] + b"/" + TMP_PREFIX.encode() + uuid.uuid4().hex.encode()
                fd = os.open(dest, _CREATE_FLAGS, perm & 0o777)
            try:
                if isinstance(content, bytes):
                    _write_all(fd, content)
                elif first is not None:
                    _copy_file(first, fd, size)  # in the kernel, from a file verified as written
                else:
                    self._write_content(digest, size, fd, path, content, what)
                chowned = self.as_root and (uid, gid) != self.owner
                if chowned:
                    os.fchown(fd, uid, gid)
                # the umask may have cut bits at creation; chown clears setuid/setgid
                if chowned or perm & (self.umask | 0o7000):
                    os.fchmod(fd, perm)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            except BaseException:
                os.close(fd)
                os.unlink(dest)
                raise
            os.close(fd)
            if dest != final:
                os.replace(dest, final)
            first = final
            with self._lock:
                self.report.files += 1
                self.report.bytes += size
                self.progress.files += 1
                self.progress.bytes += size

    def _write_content(self, digest: str, size: int, fd: int, path: bytes, chunks, what: str) -> None:
        h, n = blobs.hasher(), 0
        with _decoding(path, what):
            for chunk in chunks():
                h.update(chunk)
                n += len(chunk)
                _write_all(fd, chunk)
        if h.hexdigest() != digest or n != size:
            raise _corrupt(path, what)

    def make_link(self, rel: bytes, link: bytes, mtime_ns: int, uid: int, gid: int) -> None:
        try:
            self._ensure_dir(rel.rpartition(b"/")[0])
        except _InTheWay as e:
            self._problem(rel, str(e))
            return
        final = self._abs(rel)
        try:
            st = os.lstat(final)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                self._problem(rel, "a folder in the target is in the way of the symlink")
                return
            if stat.S_ISLNK(st.st_mode) and os.readlink(final) == link:
                self.report.already_there += 1
                return
        tmp = final.rpartition(b"/")[0] + b"/" + TMP_PREFIX.encode() + uuid.uuid4().hex.encode()
        os.symlink(link, tmp)
        if self.as_root:
            os.lchown(tmp, uid, gid)
        os.utime(tmp, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
        os.replace(tmp, final)
        self.report.symlinks += 1

    def finish_dir(self, rel: bytes, mode: int, mtime_ns: int, uid: int, gid: int) -> None:
        if rel not in self._dirs:
            return  # refused or in the way: already reported
        p = self._abs(rel)
        if self.as_root:
            os.lchown(p, uid, gid)
        os.chmod(p, stat.S_IMODE(mode))
        os.utime(p, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


class _InTheWay(Exception):
    pass


@contextlib.contextmanager
def _decoding(path: bytes, what: str) -> Iterator[None]:
    """zstd's errors on a damaged object, as an integrity error naming the file."""
    try:
        yield
    except BackupError:
        raise
    except Exception as e:
        if type(e).__module__.startswith("zstd"):
            raise BackupIntegrityError(f"{os.fsdecode(path)}: {what} cannot be decoded: {e}") from None
        raise


def _corrupt(path: bytes, what: str) -> BackupIntegrityError:
    return BackupIntegrityError(f"{os.fsdecode(path)}: {what} is corrupt (content hash or size differs from the "
                                "manifest); file not restored")
