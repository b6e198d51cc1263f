"""moto's server: the real S3, STS and EKS endpoints of the tests (offline, in-memory).

Runs as its own process (`python -m moto.server`), like the other servers of the stack, so
boto3, s3fs and the kube-apiserver's token webhook all reach it over HTTP as they would AWS.
Any access key is accepted; STS GetCallerIdentity answers with moto's default account.
"""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hub_ops_dev.stack.process import ServerProcess, free_port

# moto's fixed identity: the account GetCallerIdentity returns for any key
MOTO_ACCOUNT = "123456789012"
REGION = "us-west-2"


@dataclass
class MotoServer:
    workdir: Path
    port: int = 0
    server: ServerProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.port = self.port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server = ServerProcess(
            "moto",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            log=self.workdir / "moto.log",
        ).start()
        self.server.wait_ready(
            lambda: urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).status == 200, timeout=30
        )
        return self

    def env(self) -> dict[str, str]:
        """The standard AWS SDK environment that sends boto3/s3fs to this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }

    def reset(self) -> None:
        """Forget every bucket, cluster and identity (moto's reset API)."""
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=10)

    def stop(self) -> None:
        if self.server:
            self.server.stop()
