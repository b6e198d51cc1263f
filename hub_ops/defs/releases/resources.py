"""Resources of the deploy domain: git (the watched fleet repo), sops, kube, helm, hub API."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dagster as dg

from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.git import FleetRemote, GitError, GitRepo
from hub_ops.clients.helm import HelmClient
from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.kube import ClusterAccess, KubeClient
from hub_ops.clients.sops import Sops
from hub_ops.fleet.loader import Fleet, load_settings
from hub_ops.fleet.models import Cluster


def default_cache() -> str:
    return os.environ.get("HUB_OPS_CACHE", str(Path.home() / ".cache" / "hub_ops"))


class GitResource(dg.ConfigurableResource):
    """The fleet repo's watched branch. remote/branch default to fleet.yaml `git:`; a relative
    remote (like ".") is resolved from the fleet root's own checkout."""

    remote: str | None = None
    branch: str | None = None
    cache_dir: str | None = None

    def remote_for(self, fleet_root: str | Path) -> FleetRemote:
        """The watched remote of the fleet whose checkout is at `fleet_root` (only its
        fleet.yaml is read, so a broken cluster file does not stop the watch)."""
        root = Path(fleet_root).resolve()
        settings = load_settings(root)
        remote = self.remote or settings.git.remote
        prefix = ""
        try:
            local = GitRepo(root)
            prefix = local.prefix()
            if "://" not in remote and not remote.startswith("git@") and not Path(remote).is_absolute():
                remote = (
                    local.run("rev-parse", "--show-toplevel").decode().strip()
                    if remote == "."
                    else str((root / remote).resolve())
                )
        except GitError:
            if remote == ".":
                raise GitError(f"fleet.yaml git.remote is '.' but {root} is not in a git checkout") from None
        branch = self.branch or settings.git.branch
        key = hashlib.sha1(f"{remote}#{branch}".encode()).hexdigest()[:12]
        cache = Path(self.cache_dir or default_cache()) / "git" / key
        return FleetRemote(remote=remote, branch=branch, cache_dir=cache, fleet_prefix=prefix)


class SopsResource(dg.ConfigurableResource):
    """sops decryption; age_key_file None uses SOPS_AGE_KEY_FILE / KMS through ADC."""

    age_key_file: str | None = None

    def client(self) -> Sops:
        return Sops(self.age_key_file)


class KubeResource(dg.ConfigurableResource):
    """Reaches each cluster's API from its provider block (local/kubeconfig/gcp)."""

    def access(self, fleet: Fleet, cluster: Cluster, sops: Sops) -> ClusterAccess:
        gke_access = None
        if cluster.provider == "gcp":
            from hub_ops.clients.gke import cluster_access as gke_access
        return cluster_access(fleet, cluster, sops, gke_access)

    def client(self, fleet: Fleet, cluster: Cluster, sops: Sops) -> KubeClient:
        return KubeClient(self.access(fleet, cluster, sops), name=cluster.name)

    def helm(self, fleet: Fleet, cluster: Cluster, sops: Sops) -> HelmClient:
        return HelmClient(self.access(fleet, cluster, sops))


class JupyterHubResource(dg.ConfigurableResource):
    """The hubs' REST APIs. url_template gets {domain}, {cluster}, {hub}."""

    url_template: str = "https://{domain}/hub/api"
    verify_tls: bool = True
    timeout: float = 10.0

    def client(self, domain: str, cluster: str, hub: str, token: str) -> HubApi:
        url = self.url_template.format(domain=domain, cluster=cluster, hub=hub)
        return HubApi(url, token, verify_tls=self.verify_tls, timeout=self.timeout)


def resources(env: str) -> dict:
    age_key = os.environ.get("SOPS_AGE_KEY_FILE")
    if env == "local" and not age_key:
        demo_key = Path(os.environ.get("HUB_OPS_FLEET", "deployments")) / "demo.agekey"
        age_key = str(demo_key) if demo_key.is_file() else None
    return {
        "git": GitResource(
            cache_dir=os.path.join(os.environ.get("HUB_OPS_DATA", ".data"), "cache") if env == "local" else None
        ),
        "sops": SopsResource(age_key_file=age_key),
        "kube": KubeResource(),
        "hub_api": JupyterHubResource(),
    }
