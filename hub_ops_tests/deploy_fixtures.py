"""pytest plugin: fleets in real git repos whose clusters are the local kube-apiserver (see
fleet_repos.py), and the two ways their hubs run:

- cheap (`auto_kubelet`, `deploy_resources(repo)`): every pod is reported Ready without a
  process and health checks go to the one shared local JupyterHub. For tests that deploy
  many hubs, where what matters is the chain of releases, not each hub's process.
- real (`hub_kubelet`, `deploy_resources(repo, real_hubs=True)`, `cluster_hub_api`): the
  stand-in kubelet runs each hub Deployment's container as a JupyterHub process, Ready only
  when its readinessProbe answers, and health checks reach THAT hub through its Service's
  endpoints, so the hub's URL comes from the cluster. ~100 MB and ~1 s CPU per hub start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub_ops.defs.shared.resources import FleetResource, GitResource, JupyterHubResource, KubeResource, SopsResource
from hub_ops_dev.stack.hub_api import ClusterJupyterHubResource, ServiceHubApi
from hub_ops_tests.fleet_repos import AgeKey, AutoKubelet, FleetRepo, build_fleet_repo, make_age_key


@pytest.fixture(scope="session")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    """An age key generated for this session; test fleets encrypt their secrets with it."""
    return make_age_key(tmp_path_factory.mktemp("age"))


@pytest.fixture
def fleet_repo_factory(tmp_path: Path, kube_cluster, age_key, request) -> Iterator[Callable[..., FleetRepo]]:
    """fleet_repo_factory(clusters=("alpha", "beta"), down=("gamma",), hubs=(...), token=None) -> FleetRepo.
    The hubs' hub-ops token is `token`, else the shared local JupyterHub's (cheap mode).
    Namespaces made by the fleet's releases are deleted afterwards."""
    made: list[FleetRepo] = []

    def make(clusters=("alpha",), down=(), hubs=("staging", "prod"), token: str | None = None) -> FleetRepo:
        spec = {name: str(kube_cluster.kubeconfig) for name in clusters} | {name: None for name in down}
        repo = build_fleet_repo(
            tmp_path / f"fleet{len(made)}",
            clusters=spec,
            age=age_key,
            hubs=hubs,
            hub_token=token or request.getfixturevalue("jupyterhub_server").api_token,
        )
        made.append(repo)
        return repo

    yield make
    from kubernetes import client

    core = client.CoreV1Api(kube_cluster.api_client())
    for repo in made:
        for ns in core.list_namespace().items:
            if ns.metadata.name.startswith(repo.prefix):
                core.delete_namespace(ns.metadata.name)


@pytest.fixture
def auto_kubelet(kube_cluster) -> Callable[[FleetRepo], AutoKubelet]:
    """auto_kubelet(repo) -> a running AutoKubelet for the repo's namespaces (use `with`): cheap mode."""
    return lambda repo: AutoKubelet(kube_cluster.api_client(), repo.prefix)


@pytest.fixture
def hub_kubelet(kube_cluster, tmp_path: Path):
    """hub_kubelet(repo) -> a ProcessKubelet (use `with`) for the repo's namespaces: hub pods run
    as JupyterHub processes; other containers (support, dask-gateway) are Ready without one."""
    from hub_ops_dev.stack.jupyterhub import HUB_IMAGE, local_hub_image
    from hub_ops_dev.stack.process_kubelet import ProcessKubelet

    def make(repo: FleetRepo) -> ProcessKubelet:
        return ProcessKubelet(
            kube_cluster.api_client(),
            lambda namespace: namespace.startswith(repo.prefix),
            tmp_path / f"kubelet-{repo.prefix}",
            {HUB_IMAGE: local_hub_image()},
        )

    return make


@pytest.fixture
def cluster_hub_api(kube_cluster) -> Callable[[FleetRepo], Callable]:
    """cluster_hub_api(repo) -> the (release, token) -> HubApi factory ReleaseDeployer takes,
    reaching each release's hub through its Service's endpoints."""
    return lambda repo: lambda release, token: ServiceHubApi(str(kube_cluster.kubeconfig), release.namespace, token)


@pytest.fixture
def deploy_resources(tmp_path: Path, age_key, request) -> Callable[..., dict]:
    """deploy_resources(repo, real_hubs=False) -> resources for deploy_job / deploy_on_push.
    real_hubs: the health check reaches each hub through its Service (run them with hub_kubelet);
    else the shared local JupyterHub answers for every hub."""

    def make(repo: FleetRepo, real_hubs: bool = False) -> dict:
        sops = SopsResource(age_key_file=str(age_key.path))
        if real_hubs:
            kube_cluster = request.getfixturevalue("kube_cluster")  # only here: aws/azure fleets use their own
            hub_api = ClusterJupyterHubResource(
                kubeconfig=str(kube_cluster.kubeconfig), namespace_template=repo.namespace("{cluster}", "{hub}")
            )
        else:
            hub_api = JupyterHubResource(url_template=request.getfixturevalue("jupyterhub_server").api_url)
        return {
            "fleet": FleetResource(root=str(repo.root)),
            "git": GitResource(cache_dir=str(tmp_path / "git-cache")),
            "sops": sops,
            "kube": KubeResource(sops=sops),
            "hub_api": hub_api,
        }

    return make
