"""A cluster whose hubs really run: the local kube-apiserver (with its controllers) and the
stand-in kubelet that runs each hub pod as a JupyterHub process (process_kubelet.py).

What `make demo` deploys the example fleet's local cluster to; the deploy tests build the
same pair from their fixtures (kube_cluster, hub_kubelet). Needs the cached kube-apiserver
build (`make stack-prepare`): `prepared()` says whether it is there without building it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hub_ops_dev.stack.jupyterhub import HUB_IMAGE, local_hub_image
from hub_ops_dev.stack.kube import KubeCluster
from hub_ops_dev.stack.kube_build import kube_binaries
from hub_ops_dev.stack.process_kubelet import ProcessKubelet


def prepared() -> bool:
    """True when the kube-apiserver build `make stack-prepare` caches is present."""
    return kube_binaries().present()


class HubCluster:
    """`with HubCluster(workdir, namespaces) as cluster:` starts etcd, kube-apiserver,
    kube-controller-manager and a kubelet for the namespaces `namespaces(name)` accepts;
    leaving the block stops the hub processes, then the control plane (by process group)."""

    def __init__(self, workdir: Path, namespaces: Callable[[str], bool]):
        self.workdir, self.namespaces = Path(workdir), namespaces
        self.kube: KubeCluster | None = None
        self.kubelet: ProcessKubelet | None = None

    def __enter__(self) -> HubCluster:
        self.kube = KubeCluster(self.workdir / "kube", binaries=kube_binaries()).start()
        try:
            self.kubelet = ProcessKubelet(
                self.kube.api_client(), self.namespaces, self.workdir / "kubelet", {HUB_IMAGE: local_hub_image()}
            ).start()
        except BaseException:
            self.kube.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.kubelet is not None:
                self.kubelet.stop()
        finally:
            self.kube.stop()
