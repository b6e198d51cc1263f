"""Make this machine ready for the local stack: apt packages, the kube-apiserver build, Azurite.

`make test` (and so `.ci/run`) calls this first, so a fresh machine provisions itself.
Fast when everything is present (one dpkg-query, one stat): no apt call at all.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

from hub_ops_dev.stack.azurite import ensure_azurite
from hub_ops_dev.stack.kube_build import KubeBinaries, ensure_kube_binaries
from hub_ops_dev.stack.process import StackError

# package -> why the project needs it
APT_PACKAGES = {
    "golang-go": "builds kube-apiserver from Debian's source package",
    "dpkg-dev": "unpacks that source package (dpkg-source)",
    "rsync": "used by the Kubernetes build",
    "jq": "used by the Kubernetes build",
    "etcd-server": "kube-apiserver's storage",
    "postgresql": "Dagster's run/event storage in tests",
    "openssl": "certificates and keys of the local kube-apiserver",
    "chromium": "browser tests of the Dagster UI",
    "restic": "backup benchmark baseline",
    "age": "age-keygen for sops-encrypted values",
    "nodejs": "runs Azurite (Azure Blob server of the tests)",
}


def missing_apt_packages(packages: list[str] | None = None) -> list[str]:
    """Packages of `packages` (default: APT_PACKAGES) that dpkg does not list as installed."""
    wanted = list(packages or APT_PACKAGES)
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *wanted], capture_output=True, text=True
    )  # exit 1 when some are unknown: fine
    installed = {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" installed")}
    return [p for p in wanted if p not in installed]


def install_apt_packages(packages: list[str], log: Callable[[str], None] = print) -> None:
    """apt-get install `packages` non-interactively (after one apt-get update). Needs root."""
    if not packages:
        return
    if os.geteuid() != 0:
        raise StackError(
            f"missing apt packages {' '.join(packages)}; as root run: apt-get install {' '.join(packages)}"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"prepare: apt-get install {' '.join(packages)}")
    wait_lock = ["-o", "DPkg::Lock::Timeout=600"]  # other agents/CI steps may hold the dpkg lock
    for argv in (
        ["apt-get", *wait_lock, "update", "-q"],
        ["apt-get", *wait_lock, "install", "-y", "-q", "--no-install-recommends", *packages],
    ):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
            raise StackError(f"`{' '.join(argv[:2])}` failed (exit {proc.returncode}):\n{tail}")


def prepare(log: Callable[[str], None] = print) -> KubeBinaries:
    """Install missing apt packages, build (or reuse) the Kubernetes binaries, npm-install
    Azurite (or reuse it). Idempotent."""
    install_apt_packages(missing_apt_packages(), log)
    bins = ensure_kube_binaries(log=log)
    ensure_azurite(log=log)
    return bins
