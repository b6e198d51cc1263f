"""A JupyterHub of a test module's own: what it counts is only what that module does (the
session's shared hub sees every other test's users and servers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub_ops_dev.stack.jupyterhub import JupyterHubServer


def own_hub_fixture():
    """`hub = own_hub_fixture()` in a test module: a module-scoped fixture named `hub`."""

    @pytest.fixture(scope="module")
    def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterHubServer]:
        server = JupyterHubServer(tmp_path_factory.mktemp("usage-hub")).start()
        yield server
        server.stop()

    return hub
