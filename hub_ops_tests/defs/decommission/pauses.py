"""Test tooling: make a child run stop for good in the middle of one destructive step, so the
parent can SIGKILL it there. Installed only in the child process (child_run.py) by wrapping
the library's own calls; nothing in hub_ops knows about it.

Each pause does part of the step's real work, then writes `marker` (a JSON line naming the
point) and sleeps until killed. The parent waits for the marker, so the kill lands at that
point, not at a guessed time.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from pathlib import Path

# pause point -> where it lands
POINTS = {
    "final_backup": "after the first pack or blob of the final backup is uploaded, before its manifest",
    "migrate_homes": "after the first content is written into the successor's homes, before the rest",
    "restore": "after the first content of a restore is written, before the rest",
    "uninstall_release": "after helm uninstall returned, before the step is journaled",
    "delete_hub_namespace": "after the namespace's deletion was requested, while waiting for it to go",
}


def _stop_here(marker: Path, point: str) -> None:
    marker.write_text(json.dumps({"point": point, "pid": os.getpid(), "where": POINTS[point]}) + "\n")
    while True:  # until SIGKILL
        time.sleep(3600)


def install(point: str, marker: Path) -> None:
    """Wrap the call at which `point` pauses (see POINTS)."""
    if point not in POINTS:
        raise ValueError(f"unknown pause point {point!r}; one of {', '.join(POINTS)}")
    once = threading.Lock()

    def after(cls, name: str, when=lambda *a, **k: True) -> None:
        real = getattr(cls, name)

        @functools.wraps(real)
        def wrapper(*args, **kwargs):
            result = real(*args, **kwargs)
            if when(*args, **kwargs) and once.acquire(blocking=False):
                _stop_here(marker, point)
            return result

        setattr(cls, name, wrapper)

    if point == "final_backup":
        from hub_ops.backup.store import FsspecStore, LocalStore

        def content(self, key, *rest, **kw):
            return key.startswith(("packs/", "blobs/"))

        for cls in (FsspecStore, LocalStore):
            after(cls, "put_bytes", content)
    elif point in ("migrate_homes", "restore"):
        from hub_ops.backup.restore_files import TargetWriter

        after(TargetWriter, "write_files")
    elif point == "uninstall_release":
        from hub_ops.clients.helm import HelmClient

        after(HelmClient, "uninstall")
    elif point == "delete_hub_namespace":
        from hub_ops.clients.kube import KubeClient

        real_delete, real_exists = KubeClient.delete_namespace, KubeClient.namespace_exists
        deleting = threading.Event()

        def delete_namespace(self, *args, **kwargs):
            deleting.set()
            return real_delete(self, *args, **kwargs)

        def namespace_exists(self, *args, **kwargs):
            exists = real_exists(self, *args, **kwargs)
            if deleting.is_set() and once.acquire(blocking=False):
                _stop_here(marker, point)
            return exists

        KubeClient.delete_namespace, KubeClient.namespace_exists = delete_namespace, namespace_exists


def wait_for_marker(marker: Path, child, timeout: float = 180) -> dict:
    """The marker's contents once the child wrote it; raises if the child ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text().endswith("\n"):
            return json.loads(marker.read_text())
        if child.poll() is not None:
            raise AssertionError(f"the child run ended (exit {child.returncode}) before reaching its pause point")
        time.sleep(0.2)
    raise AssertionError(f"the child run did not reach its pause point in {timeout:.0f} s")
