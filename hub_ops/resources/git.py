"""The fleet's git repository, through the git CLI.

Paths given to and returned by GitRepo are relative to `fleet_root` (which may be a folder
inside the repository, like this project's own deployments/).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from hub_ops.fleet.planner import ChangedPath


class GitError(RuntimeError):
    pass


@dataclass
class GitRepo:
    fleet_root: Path

    def run(self, *args: str, input: bytes | None = None) -> bytes:
        proc = subprocess.run(["git", *args], cwd=self.fleet_root, input=input, capture_output=True)
        if proc.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed in {self.fleet_root}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def prefix(self) -> str:
        """The fleet root's path inside the repository, '' or ending with '/'."""
        return self.run("rev-parse", "--show-prefix").decode().strip()

    def resolve(self, rev: str) -> str:
        return self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()

    def changed_paths(self, base: str, head: str) -> list[ChangedPath]:
        """Paths under the fleet root changed from base to head, renames detected."""
        out = self.run("diff", "--relative", "--name-status", "-z", "-M", base, head)
        fields = out.decode().split("\0")
        changes: list[ChangedPath] = []
        i = 0
        while i < len(fields) and fields[i]:
            status = fields[i]
            if status[0] in "RC":
                old, new = fields[i + 1], fields[i + 2]
                i += 3
                changes.append(ChangedPath(new, status[0], old))
            else:
                changes.append(ChangedPath(fields[i + 1], status[0]))
                i += 2
        return changes

    def show(self, rev: str, path: str) -> bytes | None:
        """A file's bytes at `rev` (path relative to the fleet root); None if absent there."""
        try:
            return self.run("show", f"{rev}:./{path}")
        except GitError:
            return None

    def export(self, rev: str, target: Path) -> Path:
        """Write the fleet folder as it is at `rev` into `target`; returns the fleet root there."""
        prefix = self.prefix()
        data = self.run("archive", "--format=tar", rev, "--", ".")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(target, filter="data")
        return target / prefix if prefix else target
