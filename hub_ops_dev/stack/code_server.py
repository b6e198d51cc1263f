"""A Dagster code server for hub_ops.definitions and a daemon's workspace on it: what the
daemon tests and the orchestration benchmark drive the scheduler, backfill and run-queue
daemons through. The runs the default launcher starts are the server's children."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub_ops_dev.stack.process import ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def code_server(log: Path, env: dict[str, str] | None = None, timeout: float = 180) -> Iterator[int]:
    """`dagster api grpc` serving hub_ops.definitions; yields its port, stops it after."""
    from dagster._grpc.client import DagsterGrpcClient

    port = free_port()
    argv = [sys.executable, "-m", "dagster", "api", "grpc", "--module-name", "hub_ops.definitions"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--location-name", "hub_ops"]
    server = ServerProcess("dagster-code-server", argv, log=log, cwd=REPO, env=env).start()
    try:
        server.wait_ready(lambda: DagsterGrpcClient(port=port, host="127.0.0.1").ping("ready") is not None, timeout)
        yield port
    finally:
        server.stop(timeout=20)


@contextmanager
def daemon_workspace(instance, port: int):
    """The workspace context Dagster's daemons take, on the code server at `port`."""
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import GrpcServerTarget

    target = GrpcServerTarget(host="127.0.0.1", port=port, socket=None, location_name="hub_ops")
    with create_test_daemon_workspace_context(target, instance) as workspace:
        yield workspace
