"""pytest plugin: fleets in real git repos whose clusters are the local kube-apiserver and
whose hubs answer through the local JupyterHub (see fleet_repos.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub_ops.defs.shared.resources import FleetResource, GitResource, JupyterHubResource, KubeResource, SopsResource
from hub_ops_tests.fleet_repos import AgeKey, AutoKubelet, FleetRepo, build_fleet_repo, make_age_key


@pytest.fixture(scope="session")
def age_key(tmp_path_factory: pytest.TempPathFactory) -> AgeKey:
    """An age key generated for this session; test fleets encrypt their secrets with it."""
    return make_age_key(tmp_path_factory.mktemp("age"))


@pytest.fixture
def fleet_repo_factory(tmp_path: Path, kube_cluster, jupyterhub_server, age_key) -> Iterator[Callable[..., FleetRepo]]:
    """fleet_repo_factory(clusters=("alpha", "beta"), down=("gamma",), hubs=(...)) -> FleetRepo.
    Namespaces made by the fleet's releases are deleted afterwards."""
    made: list[FleetRepo] = []

    def make(clusters=("alpha",), down=(), hubs=("staging", "prod"), token: str | None = None) -> FleetRepo:
        spec = {name: str(kube_cluster.kubeconfig) for name in clusters} | {name: None for name in down}
        repo = build_fleet_repo(
            tmp_path / f"fleet{len(made)}",
            clusters=spec,
            age=age_key,
            hubs=hubs,
            hub_token=token or jupyterhub_server.api_token,
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
    """auto_kubelet(repo) -> a running AutoKubelet for the repo's namespaces (use `with`)."""
    return lambda repo: AutoKubelet(kube_cluster.api_client(), repo.prefix)


@pytest.fixture
def deploy_resources(tmp_path: Path, jupyterhub_server, age_key) -> Callable[[FleetRepo], dict]:
    """Resources for deploy_job / deploy_on_push on a test fleet repo."""

    def make(repo: FleetRepo) -> dict:
        sops = SopsResource(age_key_file=str(age_key.path))
        return {
            "fleet": FleetResource(root=str(repo.root)),
            "git": GitResource(cache_dir=str(tmp_path / "git-cache")),
            "sops": sops,
            "kube": KubeResource(sops=sops),
            "hub_api": JupyterHubResource(url_template=jupyterhub_server.api_url),
        }

    return make
