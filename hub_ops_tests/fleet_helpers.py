"""Helpers for tests that break a copy of a fleet, or keep one in a real git repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "hub_ops tests",
    "GIT_AUTHOR_EMAIL": "tests@example.org",
    "GIT_COMMITTER_NAME": "hub_ops tests",
    "GIT_COMMITTER_EMAIL": "tests@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def replace(root: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    """Replace text in a fleet file; fails loudly when `old` is not there (a stale test)."""
    path = root / rel
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not found {count} time(s) in {rel}"
    path.write_text(text.replace(old, new, count))


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def line_of_text(root: Path, rel: str, needle: str) -> int:
    """1-based line of the first line containing `needle` (to state expected lines readably)."""
    for n, line in enumerate((root / rel).read_text().splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {rel}")


class ScratchRepo:
    """A real git repository in a temporary folder, driven by the git CLI."""

    def __init__(self, path: Path):
        self.path = path
        self.env = {**os.environ, **GIT_ENV}

    @classmethod
    def init(cls, path: Path) -> ScratchRepo:
        repo = cls(path)
        path.mkdir(parents=True, exist_ok=True)
        repo.git("init", "-q", "-b", "main")
        return repo

    def git(self, *args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=self.path, env=self.env, capture_output=True, text=True)
        assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
        return proc.stdout.strip()

    def commit(self, message: str) -> str:
        """Stage everything and commit; returns the new commit's sha."""
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")
