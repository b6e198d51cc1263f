"""One change to a hub at a time, whoever starts it: a coordination.k8s.io Lease per hub,
held by a deploy, a restore into the hub's homes or a decommission for as long as it works
on the hub, and renewed while it does.

The Lease lives in kube-system, not in the hub's namespace: a decommission deletes that
namespace while it still holds the lock. A holder that dies stops renewing, so its Lease
expires after `ttl` seconds and the next taker gets it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from hub_ops.clients.kube import ClusterUnreachable, KubeClient

LEASE_NAMESPACE = "kube-system"


def hub_lease_name(hub_namespace: str) -> str:
    return f"hub-ops-hub.{hub_namespace}"[:253]


class LeaseBusy(RuntimeError):
    """Another holder kept the Lease for longer than we were willing to wait."""


class LeaseLost(RuntimeError):
    """Our Lease was taken over (it expired while we could not renew it)."""


class HeldLease:
    """Context manager: wait for the Lease, hold it, renew it every ttl/3 seconds in a
    thread, give it back on exit (unless `keep`: a multi-step job that hands it from step
    to step under one holder name gives it back itself with `release()`)."""

    def __init__(
        self,
        kube: KubeClient,
        name: str,
        holder: str,
        *,
        namespace: str = LEASE_NAMESPACE,
        ttl: int = 120,
        wait: float = 600.0,
        poll: float = 1.0,
        keep: bool = False,
        log: Callable[[str], None] = lambda m: None,
    ):
        self.kube, self.name, self.holder, self.namespace = kube, name, holder, namespace
        self.ttl, self.wait, self.poll, self.keep, self.log = ttl, wait, poll, keep, log
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> HeldLease:
        deadline = time.monotonic() + self.wait
        waited = False
        while not self.kube.acquire_lease(self.namespace, self.name, self.holder, self.ttl):
            other = self.kube.lease_holder(self.namespace, self.name) or "another run"
            if time.monotonic() > deadline:
                raise LeaseBusy(
                    f"{self.namespace}/{self.name} is held by {other!r}; waited {self.wait:.0f} s for it "
                    "(one change to a hub at a time)"
                )
            if not waited:
                self.log(f"waiting for {self.namespace}/{self.name}, held by {other!r}")
                waited = True
            time.sleep(self.poll)
        self._renewer = threading.Thread(target=self._renew, name=f"lease {self.name}", daemon=True)
        self._renewer.start()
        return self

    def _renew(self) -> None:
        every = max(1.0, self.ttl / 3)
        while not self._stop.wait(every):
            try:
                if not self.kube.acquire_lease(self.namespace, self.name, self.holder, self.ttl):
                    other = self.kube.lease_holder(self.namespace, self.name)
                    self.lost = f"{self.namespace}/{self.name} was taken by {other!r}"
                    return
            except (ClusterUnreachable, OSError) as e:  # keep trying until the Lease would expire
                self.log(f"renewing {self.namespace}/{self.name} failed, retrying: {e}")

    def check(self) -> None:
        """Raise LeaseLost if another holder took the Lease (call between long steps)."""
        if self.lost:
            raise LeaseLost(self.lost)

    def release(self) -> None:
        self.kube.release_lease(self.namespace, self.name, self.holder)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        if not self.keep:
            try:
                self.release()
            except ClusterUnreachable as e:  # it expires by itself after ttl
                self.log(f"could not give back {self.namespace}/{self.name}: {e}")
