"""Small files of a restore from a local destination, written by worker processes.

Why processes: writing a small file is a few short syscalls (create, write, set its time,
close), and each one hands the GIL to another thread and back, so threads writing small
files mostly wait for each other. Measured on 2 cores, the 49,760 small files of the backup
benchmark: one thread 2.0-2.3 s, two threads 2.0 s with 40% more CPU (43k context
switches), two worker processes 1.4-1.5 s. Each worker runs the same TargetWriter as the threads, in its
own interpreter, reading its pack straight from the destination's files.

Workers are plain `python -m hub_ops.backup.restore_processes` children exchanging pickled
messages over two pipes (multiprocessing.connection), not a multiprocessing pool: a pool's
spawn and forkserver methods re-import the parent's __main__ (under Dagster, Dagster
itself: seconds), and fork is unsafe in a process already running threads. A worker's
imports take ~40 ms: this module and restore_files.py import neither pandas nor pyarrow.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Self

from hub_ops.backup.errors import BackupError
from hub_ops.backup.restore_files import Entry, TargetWriter
from hub_ops.settings import child_environment

_SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class PackResult:
    files: int
    bytes: int
    already_there: int
    already_bytes: int
    problems: list[str]
    dirs: set[bytes]  # folders the worker made sure of, for the parent's last pass
    kept_newer: list[str]  # files left alone: newer in the target than in the snapshot


class _Worker:
    def __init__(self, root: str, overwrite_newer: bool):
        job_r, job_w = os.pipe()
        result_r, result_w = os.pipe()
        env = child_environment()
        if os.path.basename(_SOURCE_ROOT) not in ("site-packages", "dist-packages"):
            # a source checkout: the same hub_ops as the parent's, whatever its working folder
            # (an installed one is found anyway; its folder must not go before the stdlib)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (_SOURCE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__, str(job_r), str(result_w)],
                pass_fds=(job_r, result_w),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(job_r)
            os.close(result_w)
        self.jobs = Connection(job_w, readable=False)
        self.results = Connection(result_r, writable=False)
        self.root = (root, overwrite_newer)  # sent with the first job: starting a worker writes nothing

    def close(self, kill: bool) -> None:
        self.jobs.close()  # the worker ends at the end of its current job
        if kill:
            self.proc.kill()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.results.close()


class PackWriters:
    """`processes` workers writing into `root`; `write_pack` may be called from as many
    threads at once (each waits for an idle worker). A context manager: leaving it on an
    error kills the workers (a file cut short keeps a time that is not the snapshot's, so
    a rerun rewrites it)."""

    def __init__(self, root: str, processes: int, overwrite_newer: bool = False):
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._workers: list[_Worker] = []
        try:
            for _ in range(processes):
                worker = _Worker(root, overwrite_newer)
                self._workers.append(worker)
                self._idle.put(worker)
        except BaseException:
            self.close(kill=True)
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, *_) -> None:
        self.close(kill=kind is not None)

    def stop(self) -> None:
        """No more jobs: the workers end on their own while the caller goes on."""
        for worker in self._workers:
            worker.jobs.close()

    def close(self, kill: bool = False) -> None:
        for worker in self._workers:
            worker.close(kill)
        self._workers = []

    def write_pack(
        self, path: str, start: int, end: int, contents: dict[str, tuple[tuple[int, int], list[Entry]]], url: str
    ) -> PackResult | None:
        """Write `contents` (as TargetWriter.write_packed takes them) from bytes [start, end)
        of the pack file `path`. None when the pack file is missing; raises what the worker
        raised."""
        worker = self._idle.get()
        try:
            try:
                if worker.root is not None:
                    worker.jobs.send(worker.root)
                    worker.root = None
                worker.jobs.send((path, start, end, contents, url))
                ok, value = worker.results.recv()
            except (EOFError, OSError):  # the pipe closed: the worker is gone
                code = worker.proc.wait()
                raise BackupError(
                    f"a restore worker process ended unexpectedly (exit code {code}) while "
                    f"writing the contents of pack {url}; rerun the restore"
                ) from None
        finally:
            self._idle.put(worker)
        if ok is None:
            return None
        if not ok:
            raise value
        return value


def _serve(jobs: Connection, results: Connection) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the workers itself. A parent
    # killed outright closes its end of the pipe, which ends the worker after its job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    root, overwrite_newer = jobs.recv()
    writer = TargetWriter(root, overwrite_newer=overwrite_newer)
    reported: set[bytes] = set()
    while True:
        try:
            path, start, end, contents, url = jobs.recv()
        except EOFError:
            return
        before = (
            writer.files,
            writer.bytes,
            writer.already_there,
            writer.already_bytes,
            len(writer.problems),
            len(writer.kept_newer),
        )
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            results.send((None, None))
            continue
        try:
            try:
                data = os.pread(fd, end - start, start)
            finally:
                os.close(fd)
            writer.write_packed(data, start, contents, url)
        except Exception as e:  # noqa: BLE001 - sent to the parent, which raises it
            results.send((False, _picklable(e)))
            continue
        dirs = writer.dirs - reported
        reported |= dirs
        results.send(
            (
                True,
                PackResult(
                    writer.files - before[0],
                    writer.bytes - before[1],
                    writer.already_there - before[2],
                    writer.already_bytes - before[3],
                    writer.problems[before[4] :],
                    dirs,
                    writer.kept_newer[before[5] :],
                ),
            )
        )


def _picklable(e: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001 - an exception that does not survive pickling: keep its words
        return BackupError(f"{type(e).__name__}: {e}")


if __name__ == "__main__":  # run as a worker: use this module under its own name, so results unpickle
    from hub_ops.backup.restore_processes import _serve

    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))
