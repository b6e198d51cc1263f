"""Build fleets in real git repos for deploy tests: clusters on the local kube-apiserver,
hubs of the project's basehub chart (which hub_kubelet runs as real JupyterHub processes,
or AutoKubelet only reports Ready), secrets encrypted with sops + a generated age key."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hub_ops.clients.sops import sops_binary

REPO = Path(__file__).resolve().parent.parent
CHARTS = REPO / "deployments" / "charts"
# The hubs' own config (basehub's jupyterhub.hub.config): users log in through the dummy
# authenticator and get servers as local processes (jupyterhub-singleuser from the image's
# PATH; --allow-root since the stand-in kubelet may run as root), as the hub_kubelet runs them.
LOCAL_HUB_CONFIG = {
    "JupyterHub": {"authenticator_class": "dummy", "spawner_class": "simple"},
    "Spawner": {"cmd": ["jupyterhub-singleuser"], "args": ["--allow-root"], "start_timeout": 60},
}
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
}


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


@dataclass
class AgeKey:
    path: Path
    public: str

    def encrypt(self, path: Path) -> None:
        env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1", "SOPS_AGE_RECIPIENTS": self.public}
        subprocess.run([sops_binary(), "--encrypt", "--in-place", str(path)], check=True, env=env, capture_output=True)


def make_age_key(folder: Path) -> AgeKey:
    import pyrage

    ident = pyrage.x25519.Identity.generate()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "test.agekey"
    path.write_text(f"# public key: {ident.to_public()}\n{ident}\n")
    return AgeKey(path, str(ident.to_public()))


@dataclass
class FleetRepo:
    """A work tree (`root`) pushing to a bare `remote`, branch main."""

    root: Path
    remote: Path
    age: AgeKey
    prefix: str = field(default_factory=lambda: "t" + uuid.uuid4().hex[:6])

    def namespace(self, cluster: str, hub: str) -> str:
        return f"{self.prefix}-{cluster}-{hub}"

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def write_yaml(self, rel: str, doc) -> Path:
        return self.write(rel, yaml.safe_dump(doc, sort_keys=False))

    def write_secret(self, rel: str, doc) -> Path:
        path = self.write_yaml(rel, doc)
        self.age.encrypt(path)
        return path

    def cluster_doc(self, cluster: str) -> dict:
        return yaml.safe_load((self.root / "clusters" / cluster / "cluster.yaml").read_text())

    def commit(self, message: str, push: bool = True) -> str:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "--allow-empty", "-m", message)
        if push:
            git(self.root, "push", "-q", "origin", "HEAD:main")
        return git(self.root, "rev-parse", "HEAD")

    def head(self) -> str:
        return git(self.root, "rev-parse", "HEAD")


def build_fleet_repo(
    base: Path,
    *,
    clusters: dict[str, str | None],
    hub_token: str,
    age: AgeKey,
    hubs: tuple[str, ...] = ("staging", "prod"),
) -> FleetRepo:
    """A fleet repo with one cluster per entry of `clusters` (name -> kubeconfig path, or
    None for a cluster whose API is down), each with support + the given hubs."""
    root, remote = base / "work", base / "remote.git"
    root.mkdir(parents=True)
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main")
    git(root, "remote", "add", "origin", str(remote))
    repo = FleetRepo(root, remote, age)
    shutil.copytree(CHARTS, root / "charts")
    repo.write_yaml(
        "fleet.yaml",
        {
            "clusters_dir": "clusters",
            "charts_dir": "charts",
            "git": {"remote": str(remote), "branch": "main"},
            "kubernetes": {"min_minor": 30},
        },
    )
    for name, kubeconfig in clusters.items():
        down = kubeconfig is None
        doc = {
            "name": name,
            "provider": "local",
            # a port nothing listens on: the API is down
            "local": {"kubeconfig": str(base / f"{name}-down.kubeconfig") if down else kubeconfig},
            "support": {
                "helm_chart_values_files": ["support.values.yaml"],
                "namespace": repo.namespace(name, "support"),
            },
            "hubs": [
                {
                    "name": h,
                    "display_name": f"{name} {h}",
                    "domain": f"{h}.{name}.test",
                    "helm_chart": "basehub",
                    "namespace": repo.namespace(name, h),
                    "helm_chart_values_files": [
                        "common.values.yaml",
                        f"{h}.values.yaml",
                        f"enc-{h}.secret.values.yaml",
                    ],
                }
                for h in hubs
            ],
        }
        if down:
            (base / f"{name}-down.kubeconfig").write_text(yaml.safe_dump(down_kubeconfig()))
        repo.write_yaml(f"clusters/{name}/cluster.yaml", doc)
        repo.write_yaml(f"clusters/{name}/support.values.yaml", {"clusterName": name})
        repo.write_yaml(
            f"clusters/{name}/common.values.yaml",
            {"jupyterhub": {"hub": {"config": LOCAL_HUB_CONFIG}}, "home": {"pvc": {"create": False}}},
        )
        for h in hubs:
            repo.write_yaml(f"clusters/{name}/{h}.values.yaml", {"jupyterhub": {"singleuser": {"defaultUrl": "/lab"}}})
            repo.write_secret(
                f"clusters/{name}/enc-{h}.secret.values.yaml",
                {"jupyterhub": {"hub": {"services": {"hub-ops": {"apiToken": hub_token}}}}},
            )
    repo.commit("initial fleet")
    return repo


def down_kubeconfig() -> dict:
    from hub_ops_dev.stack.process import free_port

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "down",
        "clusters": [
            {
                "name": "down",
                "cluster": {"server": f"https://127.0.0.1:{free_port()}", "insecure-skip-tls-verify": True},
            }
        ],
        "users": [{"name": "down", "user": {"token": "nothing"}}],
        "contexts": [{"name": "down", "context": {"cluster": "down", "user": "down"}}],
    }


class AutoKubelet:
    """Plays the kubelet for whole namespaces in a background thread: every pod there is
    reported Running and Ready, so the real ReplicaSet and Deployment controllers make each
    Deployment Available, as on a working cluster. Namespaces in `held` get nothing: a
    chart that never becomes ready."""

    def __init__(self, api_client, prefix: str, interval: float = 0.2):
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.prefix = prefix
        self.interval = interval
        self.held: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> AutoKubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        from hub_ops_dev.stack.kubelet import pod_status

        while not self._stop.is_set():
            try:
                for pod in self.core.list_pod_for_all_namespaces().items:
                    ns = pod.metadata.namespace
                    if (
                        not ns.startswith(self.prefix)
                        or ns in self.held
                        or pod.metadata.deletion_timestamp
                        or (pod.status and pod.status.phase == "Running")
                    ):
                        continue
                    self.core.patch_namespaced_pod_status(pod.metadata.name, ns, pod_status(pod, "Running"))
            except Exception:  # the apiserver between tests, a namespace being deleted: try again
                pass
            self._stop.wait(self.interval)
