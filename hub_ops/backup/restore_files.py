"""The target side of a restore: folders, files and symlinks written into the target folder
by the rules in restore.py's docstring (never through a symlink, whole files only, modes,
times and owners as in the snapshot).

Light on imports (no pandas or pyarrow) because restore_processes.py runs it in worker
processes that must start in milliseconds.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
import uuid
from collections.abc import Iterator

from hub_ops.backup import blobs
from hub_ops.backup.errors import BackupError, BackupIntegrityError

TMP_PREFIX = ".hub-ops-restore-"
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

# one file of a content: (path, size, mode, mtime_ns, uid, gid)
Entry = tuple[bytes, int, int, int, int, int]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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


class InTheWay(Exception):
    """Something in the target (a file, a symlink) stands where a folder must be."""


class TargetWriter:
    """Writes into the folder `root`; safe to share between threads. Counts what it writes
    (`files`, `bytes`, `already_there`, `already_bytes`, `symlinks`) and collects `problems` (entries not
    written because something in the target is in the way). `progress`, when given, is an
    object whose `files` and `bytes` follow the writes.

    Keep-newer: a file in the target whose mtime is later than the snapshot's copy is
    somebody's work since the backup; it is left alone and listed in `kept_newer`, unless
    `overwrite_newer` (the caller then records why)."""

    def __init__(self, root: str, progress=None, overwrite_newer: bool = False):
        self.root = os.fsencode(root)
        self.progress = progress
        self.overwrite_newer = overwrite_newer
        self.kept_newer: list[str] = []  # files left as they were: newer in the target than in the snapshot
        os.makedirs(root, exist_ok=True)
        self.dirs: set[bytes] = {b""}  # relative folders known to be real folders in the target
        self._lock = threading.Lock()
        self.problems: list[str] = []
        self.files = self.bytes = self.already_there = self.already_bytes = self.symlinks = 0
        self.as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        self.owner = (os.geteuid(), os.getegid())  # files are created owned by us
        self.umask = os.umask(0o022)
        os.umask(self.umask)  # read it back: os.umask can only read by setting

    def _abs(self, rel: bytes) -> bytes:
        return self.root + b"/" + rel if rel else self.root

    def count(self, files: int, nbytes: int, already_there: int = 0, already_bytes: int = 0) -> None:
        """Files written (and their bytes), files found already restored (and theirs)."""
        with self._lock:
            self.files += files
            self.bytes += nbytes
            self.already_there += already_there
            self.already_bytes += already_bytes
            if self.progress is not None:
                self.progress.files += files + already_there
                self.progress.bytes += nbytes + already_bytes

    def add_problems(self, problems: list[str]) -> None:
        with self._lock:
            self.problems.extend(problems)

    def _problem(self, path: bytes, why: str) -> None:
        self.add_problems([f"{os.fsdecode(path)}: {why}"])

    def _ensure_dir(self, rel: bytes) -> None:
        """Make `rel` a real folder in the target, refusing to go through a symlink."""
        if rel in self.dirs:
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
            raise InTheWay(f"{os.fsdecode(rel)} in the target is {what}, not a folder")
        with self._lock:
            self.dirs.add(rel)

    def make_dir(self, rel: bytes, report_as: bytes | None = None) -> bool:
        """Make `rel` a folder; False (and a problem reported for `report_as`) if it cannot be."""
        try:
            self._ensure_dir(rel)
            return True
        except InTheWay as e:
            self._problem(rel if report_as is None else report_as, str(e))
            return False

    def write_packed(
        self, data: bytes, start: int, contents: dict[str, tuple[tuple[int, int], list[Entry]]], url: str
    ) -> None:
        """Write the contents stored in `data` (the bytes of a pack from offset `start`):
        `contents` maps a digest to ((offset, stored size), its files). Each content is
        decoded and checked once, then written from memory to every file holding it."""
        decode, digest_of = blobs.decode, blobs.digest_bytes
        for digest, ((offset, stored), entries) in contents.items():
            path, size = entries[0][0], entries[0][1]
            try:  # not `with decoding(...)`: a context manager per small file is ~5 us of CPU
                content = decode(data[offset - start : offset - start + stored])
            except Exception as e:
                error = _undecodable(e, path, f"pack {url} at {offset}")
                if error is None:
                    raise
                raise error from None
            if len(content) != size or digest_of(content) != digest:
                raise corrupt(path, f"pack {url} at {offset}")
            self.write_files(digest, entries, content, url)

    def write_files(self, digest: str, entries: list[Entry], content, what: str) -> None:
        """Write every file of one content. `content`: the bytes (small contents, already
        checked), or a function streaming the stored object's chunks (checked as written)."""
        first: bytes | None = None  # a file of this content already written: copy it
        for path, size, mode, mtime_ns, uid, gid in entries:
            parent = path.rpartition(b"/")[0]
            if parent not in self.dirs and not self.make_dir(parent, report_as=path):
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
                if (
                    stat.S_ISREG(st.st_mode)
                    and st.st_size == size
                    and st.st_mtime_ns == mtime_ns
                    and st.st_mode == mode
                ):
                    self.count(0, 0, already_there=1, already_bytes=size)
                    first = first or final
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_mtime_ns > mtime_ns and not self.overwrite_newer:
                    with self._lock:
                        self.kept_newer.append(os.fsdecode(path))
                    continue
                dest = final.rpartition(b"/")[0] + b"/" + TMP_PREFIX.encode() + uuid.uuid4().hex.encode()
                fd = os.open(dest, _CREATE_FLAGS, perm & 0o777)
            try:
                if isinstance(content, bytes):
                    written = os.write(fd, content)  # all of it in one call, in the usual case
                    if written != len(content):
                        _write_all(fd, memoryview(content)[written:])
                elif first is not None:
                    _copy_file(first, fd, size)  # in the kernel, from a file verified as written
                else:
                    self._write_stream(digest, size, fd, path, content, what)
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
            self.count(1, size)

    def _write_stream(self, digest: str, size: int, fd: int, path: bytes, chunks, what: str) -> None:
        h, n = blobs.hasher(), 0
        with decoding(path, what):
            for chunk in chunks():
                h.update(chunk)
                n += len(chunk)
                _write_all(fd, chunk)
        if h.hexdigest() != digest or n != size:
            raise corrupt(path, what)

    def make_link(self, rel: bytes, link: bytes, mtime_ns: int, uid: int, gid: int) -> None:
        if not self.make_dir(rel.rpartition(b"/")[0], report_as=rel):
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
                self.already_there += 1
                return
        tmp = final.rpartition(b"/")[0] + b"/" + TMP_PREFIX.encode() + uuid.uuid4().hex.encode()
        os.symlink(link, tmp)
        if self.as_root:
            os.lchown(tmp, uid, gid)
        os.utime(tmp, ns=(mtime_ns, mtime_ns), follow_symlinks=False)
        os.replace(tmp, final)
        self.symlinks += 1

    def finish_dir(self, rel: bytes, mode: int, mtime_ns: int, uid: int, gid: int) -> None:
        if rel not in self.dirs:
            return  # refused or in the way: already reported
        p = self._abs(rel)
        if self.as_root:
            os.lchown(p, uid, gid)
        os.chmod(p, stat.S_IMODE(mode))
        os.utime(p, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


@contextlib.contextmanager
def decoding(path: bytes, what: str) -> Iterator[None]:
    """zstd's errors on a damaged object, as an integrity error naming the file."""
    try:
        yield
    except Exception as e:
        error = _undecodable(e, path, what)
        if error is None:
            raise
        raise error from None


def _undecodable(e: Exception, path: bytes, what: str) -> BackupIntegrityError | None:
    """For zstd's error `e` on a damaged object, an integrity error naming the file; None for
    any other error (raised as it is)."""
    if not isinstance(e, BackupError) and type(e).__module__.startswith("zstd"):
        return BackupIntegrityError(f"{os.fsdecode(path)}: {what} cannot be decoded: {e}")
    return None


def corrupt(path: bytes, what: str) -> BackupIntegrityError:
    return BackupIntegrityError(
        f"{os.fsdecode(path)}: {what} is corrupt (content hash or size differs from the manifest); file not restored"
    )
