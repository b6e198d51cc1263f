"""pytest plugin: the local stack of real servers.

Session-scoped servers, started on first use and stopped at session end (also when tests
fail or are interrupted: pytest runs session finalizers on KeyboardInterrupt, and each
server runs in a process group of its own). Per-test fixtures hand out private buckets,
databases and namespaces so tests never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

from hub_ops.devstack.gcs import FakeGcsServer  # noqa: E402
from hub_ops.devstack.postgres import PostgresServer  # noqa: E402
from hub_ops.resources.storage import Storage  # noqa: E402


def _short_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Work dirs and logs of every server of this session."""
    return tmp_path_factory.mktemp("stack")


# ------------------------------------------------------------------ GCS


@pytest.fixture(scope="session")
def gcs_server(stack_dir: Path) -> Iterator[FakeGcsServer]:
    server = FakeGcsServer(stack_dir / "gcs").start()
    yield server
    server.stop()


@pytest.fixture
def gcs_bucket(gcs_server: FakeGcsServer) -> str:
    """A fresh, empty bucket."""
    return gcs_server.create_bucket(f"test-{_short_id()}")


@pytest.fixture
def gcs_storage(gcs_server: FakeGcsServer) -> Storage:
    """Storage that sends gs:// URLs to the GCS server."""
    import gcsfs

    gcsfs.GCSFileSystem.clear_instance_cache()
    return Storage(gcs_endpoint=gcs_server.endpoint, gcs_token="anon")


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop(remove=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of a fresh database."""
    return postgres_server.create_database(f"test_{_short_id()}")
