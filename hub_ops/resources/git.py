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
        """The full sha of the commit `rev` names; GitError when it names none."""
        try:
            return self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
        except GitError as e:
            if "not a git repository" in str(e):
                raise
            raise GitError(f"{rev!r} is not a commit of the repository at {self.fleet_root}") from None

    def changed_paths(self, base: str, head: str) -> list[ChangedPath]:
        """Paths under the fleet root changed from base to head, renames detected."""
        # resolve first: outside a repository `git diff A B` would compare two files A and B
        base, head = self.resolve(base), self.resolve(head)
        out = self.run("diff", "--no-color", "--no-ext-diff", "--relative", "--name-status", "-z", "-M", base, head)
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
            return self.run("cat-file", "blob", f"{rev}:./{path}")  # raw bytes: no textconv
        except GitError:
            return None

    def export(self, rev: str, target: Path) -> Path:
        """Write the fleet folder as it is at `rev` into `target`; returns the fleet root there."""
        # run from the fleet root, git archive writes paths relative to it (not to the repo)
        data = self.run("archive", "--format=tar", rev, "--", ".")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(target, filter="data")
        return target
