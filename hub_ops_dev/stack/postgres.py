"""PostgreSQL 15 from Debian's binaries, a throwaway cluster on a loopback port.

Run as the `postgres` user when we are root (initdb refuses root). fsync off: test data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hub_ops_dev.stack.process import ServerProcess, StackError, free_port, log_tail

PG_BIN_CANDIDATES = [Path("/usr/lib/postgresql/15/bin")] + sorted(
    Path("/usr/lib/postgresql").glob("*/bin"), reverse=True
)


def pg_bin() -> Path:
    for path in PG_BIN_CANDIDATES:
        if (path / "initdb").is_file():
            return path
    raise StackError("PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)")


@dataclass
class PostgresServer:
    """workdir: where the cluster lives. As root, postgres must reach it, so by default it is
    a fresh 0755 folder under /tmp (pytest's and mkdtemp's folders are 0700)."""

    workdir: Path | None = None
    port: int = 0
    user: str = "postgres"
    server: ServerProcess | None = None

    def _owned(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, self.user, self.user)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        bin_dir = pg_bin()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="hub-ops-pg-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        data, sock = self.workdir / "data", self.workdir / "sock"
        for d in (data, sock):
            d.mkdir(exist_ok=True)
            self._owned(d)
        log = self.workdir / "postgres.log"
        log.touch()
        self._owned(log)
        run_as = ["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []
        if not (data / "PG_VERSION").exists():
            init = subprocess.run(
                [*run_as, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user, "--no-sync"],
                capture_output=True,
                text=True,
            )
            if init.returncode:
                raise StackError(f"initdb failed: {init.stderr[-2000:]}")
        self.port = self.port or free_port()
        self.server = ServerProcess(
            "postgres",
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(sock),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            log=log,
            user=self.user,
        ).start()

        def ready() -> bool:
            return (
                subprocess.run(
                    [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
                ).returncode
                == 0
            )

        self.server.wait_ready(ready, timeout=30)
        return self

    def create_database(self, name: str) -> str:
        """Create `name` (if missing) and return its URL."""
        bin_dir = pg_bin()
        proc = subprocess.run(
            [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name],
            capture_output=True,
            text=True,
        )
        if proc.returncode and "already exists" not in proc.stderr:
            raise StackError(f"createdb {name} failed: {proc.stderr}\n{log_tail(self.workdir / 'postgres.log')}")
        return self.url(name)

    def stop(self, remove: bool = False) -> None:
        if self.server:
            self.server.stop()
        if remove and self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
