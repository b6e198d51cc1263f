"""Destination locks: what makes a prune safe while backups run.

The danger: a backup decides a blob is already stored (its parent names it, or it exists)
and will name it in a manifest it has not written yet; a prune that deletes unreferenced
blobs in between would leave that manifest pointing at nothing.

The rule (the same as restic's):
- every backup holds a *shared* lock on the destination from before it reads anything
  until its manifest is written; any number of backups (of any hubs) share it;
- the blob-deleting phase of a prune holds the *exclusive* lock; it is taken only when no
  other live lock exists, and backups wait while it is held.

Taking a lock is "write mine, then list the others": of two writers racing, at least the
later one sees the earlier and backs off (both may; neither proceeds wrongly). Listing is
strongly consistent on GCS and on local folders.

A lock is refreshed every `refresh_s` by a heartbeat thread, with a conditional write
(overwrite only if it still exists: GCS generation, S3/Azure ETag, no O_CREAT locally), so a
heartbeat can never resurrect a lock a prune removed; one not refreshed for
`stale_s` belongs to a dead process (kill -9, lost node) and is ignored, then removed by
the next prune. Ages are measured on the store's clock (object mtimes), never by
comparing two hosts' clocks. A backup whose own lock disappeared (declared stale by a
prune) refuses to write its manifest: nothing it relied on is guaranteed any more; the
next run reuses every blob it uploaded.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from hub_ops.backup.errors import LockError
from hub_ops.backup.store import ObjectInfo, Store

PREFIX = "locks/"
SHARED, EXCLUSIVE = "backup", "prune"
# a prune never deletes an object younger than this (prune.py); here, beside the locks it backs
# up, so a caller can name the default without importing prune's numpy
DEFAULT_GRACE_S = 6 * 3600.0


@dataclass(frozen=True)
class LockPolicy:
    refresh_s: float = 60.0  # heartbeat period
    stale_s: float = 900.0  # a lock older than this (unrefreshed) is a dead process's
    wait_s: float = 3600.0  # how long a backup waits for a running prune
    poll_s: float = 5.0


def _read_owner(store: Store, key: str) -> str:
    try:
        return json.loads(store.read_bytes(key)).get("owner", "?")
    except Exception:  # noqa: BLE001 - vanished or half-written: the key name is enough
        return "?"


class DestinationLock:
    """A held lock. Use as a context manager (releases on exit, also on errors)."""

    def __init__(self, store: Store, kind: str, owner: str, policy: LockPolicy):
        self.store, self.kind, self.owner, self.policy = store, kind, owner, policy
        self.key = f"{PREFIX}{kind}-{uuid.uuid4().hex}.json"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    # -------------------------------------------------------------- lifecycle

    def _body(self) -> bytes:
        body = {
            "kind": self.kind,
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "written": time.time(),
        }
        return json.dumps(body).encode()

    def _write(self) -> None:
        self.store.put_bytes(self.key, self._body())

    def refresh(self) -> bool:
        """Rewrite the lock (its age restarts) only if it still exists: a conditional write,
        so a lock a prune removed as stale is never brought back. False when it is gone."""
        if not self.store.replace_existing(self.key, self._body()):
            self.lost = True
        return not self.lost

    def _others(self) -> tuple[list[ObjectInfo], list[ObjectInfo]]:
        """(live, stale) locks other than this one, aged by the store's clock."""
        mine = self.store.stat(self.key)
        now = mine.mtime if mine else time.time()
        live, stale = [], []
        for obj in self.store.list(PREFIX):
            name = obj.key[len(PREFIX) :]
            if (
                obj.key == self.key
                or not name.endswith(".json")
                or not name.startswith((f"{SHARED}-", f"{EXCLUSIVE}-"))
            ):
                continue  # not a lock: a temporary name of one being written
            (stale if now - obj.mtime > self.policy.stale_s else live).append(obj)
        return live, stale

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(self.policy.refresh_s):
                try:
                    if not self.refresh():
                        return
                except Exception:  # noqa: BLE001 - a missed beat is retried; staleness is minutes
                    continue

        self._thread = threading.Thread(target=beat, name=f"lock-heartbeat-{self.kind}", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise LockError unless this lock is still held (call before committing)."""
        if self.lost or self.store.stat(self.key) is None:
            self.lost = True
            raise LockError(
                f"lock {self.store.full_url(self.key)} was removed while running (declared stale); "
                "nothing was committed: run again, uploaded blobs are reused"
            )

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.store.delete(self.key)

    def __enter__(self) -> DestinationLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def shared_lock(store: Store, owner: str, policy: LockPolicy = LockPolicy()) -> DestinationLock:
    """Take a shared (backup) lock, waiting up to `policy.wait_s` for a running prune."""
    lock = DestinationLock(store, SHARED, owner, policy)
    deadline = time.monotonic() + policy.wait_s
    while True:
        lock._write()
        live, _ = lock._others()
        blocking = [o for o in live if o.key.startswith(f"{PREFIX}{EXCLUSIVE}-")]
        if not blocking:
            lock._start_heartbeat()
            return lock
        store.delete(lock.key)
        if time.monotonic() >= deadline:
            who = ", ".join(f"{store.full_url(o.key)} ({_read_owner(store, o.key)})" for o in blocking)
            raise LockError(f"{store.url}: a prune holds the destination ({who}); waited {policy.wait_s:.0f} s")
        time.sleep(policy.poll_s)


def exclusive_lock(store: Store, owner: str, policy: LockPolicy = LockPolicy()) -> DestinationLock:
    """Take the exclusive (prune) lock now, or raise LockError naming who holds a lock.
    Locks found stale are removed on the way."""
    lock = DestinationLock(store, EXCLUSIVE, owner, policy)
    lock._write()
    live, stale = lock._others()
    if live:
        store.delete(lock.key)
        who = ", ".join(f"{store.full_url(o.key)} ({_read_owner(store, o.key)})" for o in live[:5])
        raise LockError(f"{store.url}: in use, blobs not pruned this time: {who}")
    for obj in stale:
        store.delete(obj.key)
    lock._start_heartbeat()
    return lock
