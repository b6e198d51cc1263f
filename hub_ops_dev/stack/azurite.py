"""Azurite, Microsoft's Azure Storage emulator (npm), as the Blob endpoint of the tests.

Installed once per version with npm into ~/.cache/hub_ops/azurite-<version>/ (shared by
worktrees; `prepare` does it so `make test` finds it), then run as `azurite-blob` on a free
loopback port with a disk location. The account is Azurite's documented development account
(`devstoreaccount1`, its published key), so azure-storage-blob and adlfs reach it through
a standard connection string.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub_ops_dev.stack.kube_build import _build_lock, cache_root  # one lock recipe for the shared cache
from hub_ops_dev.stack.process import ServerProcess, StackError, free_port

AZURITE_VERSION = "3.37.0"
# Azurite's well-known development account (public: it is in Microsoft's documentation)
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_bin(version: str = AZURITE_VERSION) -> Path:
    return cache_root() / f"azurite-{version}" / "node_modules" / ".bin" / "azurite-blob"


def ensure_azurite(version: str = AZURITE_VERSION, log: Callable[[str], None] = print) -> Path:
    """The azurite-blob of `version`, npm-installed first if missing. Idempotent; concurrent
    callers wait on a file lock, and a failed install leaves nothing half-made in place."""
    binary = azurite_bin(version)
    if binary.exists():
        return binary
    if not shutil.which("npm"):
        raise StackError("npm not found: Azurite is installed with npm (apt-get install npm)")
    target = binary.parents[2]
    with _build_lock(target.parent / f".azurite-{version}.lock", log):
        if binary.exists():
            return binary
        log(f"prepare: npm install azurite@{version} into {target}")
        staging = Path(tempfile.mkdtemp(prefix=f".azurite-{version}-", dir=target.parent))
        proc = subprocess.run(
            ["npm", "install", "--prefix", str(staging), "--no-audit", "--no-fund", f"azurite@{version}"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if proc.returncode:
            shutil.rmtree(staging, ignore_errors=True)
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise StackError(f"npm install azurite@{version} failed (exit {proc.returncode}):\n{tail}")
        staging.rename(target)  # npm writes absolute-path-free links: the tree can move
    return binary


@dataclass
class AzuriteServer:
    workdir: Path
    port: int = 0
    server: ServerProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoint};"
        )

    def start(self) -> AzuriteServer:
        binary = ensure_azurite()
        self.port = self.port or free_port()
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.server = ServerProcess(
            "azurite",
            [
                str(binary),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.port),
                "--location",
                str(data),
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ],
            log=self.workdir / "azurite.log",
        ).start()
        # any HTTP answer (400: no such resource) means it listens
        self.server.wait_ready(lambda: _answers(f"{self.endpoint}?comp=list"), timeout=30)
        return self

    def env(self) -> dict[str, str]:
        """The standard Azure Storage environment that sends adlfs / azure-storage-blob here."""
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string}

    def create_container(self, name: str) -> str:
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(self.connection_string).create_container(name)
        return name

    def stop(self) -> None:
        # it logs "successfully closed" at once on SIGTERM but its process lingers ~10 s
        if self.server:
            self.server.stop(timeout=3)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:  # an HTTP error is an answer; refused connections raise others
        pass
    return True
