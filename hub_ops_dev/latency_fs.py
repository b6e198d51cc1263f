"""A read-only FUSE passthrough that waits a fixed time on each metadata call: network
storage (NFS, EFS, Filestore) on one machine, for benchmarks/walk.py.

    python -m hub_ops_dev.latency_fs SOURCE MOUNTPOINT --latency-ms 1 [--counts FILE]

Each getattr (the kernel's LOOKUP and GETATTR), readdir and readlink sleeps `latency-ms`
before answering, the way a round trip to a file server waits; file contents are read
without delay. Requests are served by libfuse's multi-threaded loop (a thread per request in
flight, no cap), so many requests from a client wait at once, as on NFS. Inode numbers are
the source's (`use_ino`), so a backup tool sees the same files on every mount. On unmount
the number of calls of each kind is written to --counts as JSON.

fusepy (ctypes over libfuse 2, Debian package libfuse2) serves it: no compiler needed, and
its high-level API is the passthrough in a few lines; pyfuse3 would need a build and trio.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import threading
import time
from collections import Counter

from fuse import FUSE, FuseOSError, Operations

_STAT_FIELDS = ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime", "st_mtime", "st_ctime")


class LatencyPassthrough(Operations):
    def __init__(self, source: str, latency_s: float, counts_path: str | None):
        self.source = os.path.realpath(source)
        self.latency_s = latency_s
        self.counts_path = counts_path
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _wait(self, op: str) -> None:
        with self._lock:
            self.counts[op] += 1
        if self.latency_s:
            time.sleep(self.latency_s)

    def _real(self, path: str) -> str:
        return self.source + path

    def __call__(self, op, *args):
        try:
            return super().__call__(op, *args)
        except OSError as e:
            raise FuseOSError(e.errno or errno.EIO) from None

    def getattr(self, path, fh=None):
        self._wait("getattr")
        st = os.lstat(self._real(path))
        out = {k: getattr(st, k) for k in _STAT_FIELDS}
        # nanosecond times: the backup tools compare mtime/ctime to the nanosecond
        out.update(st_atime=st.st_atime_ns / 1e9, st_mtime=st.st_mtime_ns / 1e9, st_ctime=st.st_ctime_ns / 1e9)
        return out

    def readdir(self, path, fh):
        self._wait("readdir")
        return [".", "..", *os.listdir(self._real(path))]

    def readlink(self, path):
        self._wait("readlink")
        return os.readlink(self._real(path))

    def open(self, path, flags):
        return os.open(self._real(path), os.O_RDONLY)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)

    def statfs(self, path):
        sv = os.statvfs(self._real(path))
        return {
            k: getattr(sv, k)
            for k in (
                "f_bavail",
                "f_bfree",
                "f_blocks",
                "f_bsize",
                "f_favail",
                "f_ffree",
                "f_files",
                "f_flag",
                "f_frsize",
                "f_namemax",
            )
        }

    def destroy(self, path):
        if self.counts_path:
            with open(self.counts_path, "w") as f:
                json.dump(dict(self.counts), f)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hub_ops_dev.latency_fs", description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("mountpoint")
    parser.add_argument("--latency-ms", type=float, default=1.0)
    parser.add_argument("--counts", help="write the calls of each kind here (JSON) on unmount")
    args = parser.parse_args(argv)
    FUSE(
        LatencyPassthrough(args.source, args.latency_ms / 1000, args.counts),
        args.mountpoint,
        foreground=True,
        ro=True,
        use_ino=True,
        nothreads=False,
        fsname="latency_fs",
    )


if __name__ == "__main__":
    main()
