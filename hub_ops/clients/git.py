"""The fleet's git repository, through the git CLI.

GitRepo works on a work tree (the fleet root, possibly a folder inside the repository, like
this project's deployments/) or on a bare repository (the sensor's cached clone) given the
fleet folder's prefix. Paths given to and returned by it are relative to the fleet folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hub_ops.fleet.planner import ChangedPath


class GitError(RuntimeError):
    pass


@dataclass
class GitRepo:
    fleet_root: Path  # a folder of a work tree, or a bare repository
    fleet_prefix: str | None = None  # the fleet folder inside the repository ("" or "dir/")

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        proc = subprocess.run(["git", "-C", str(self.fleet_root), *args], input=input, capture_output=True)
        if check and proc.returncode != 0:
            raise GitError(
                f"git {' '.join(args)} failed in {self.fleet_root}: {proc.stderr.decode(errors='replace').strip()}"
            )
        return proc.stdout

    def prefix(self) -> str:
        """The fleet folder's path inside the repository, '' or ending with '/'."""
        if self.fleet_prefix is None:
            self.fleet_prefix = self.run("rev-parse", "--show-prefix").decode().strip()
        return self.fleet_prefix

    def _top(self) -> Path:
        """The work tree's top folder, or the repository itself when it is bare."""
        if self.run("rev-parse", "--is-bare-repository").decode().strip() == "true":
            return Path(self.fleet_root)
        return Path(self.run("rev-parse", "--show-toplevel").decode().strip())

    def resolve(self, rev: str) -> str:
        """The full sha of the commit `rev` names; GitError when it names none."""
        try:
            return self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").decode().strip()
        except GitError as e:
            if "not a git repository" in str(e):
                raise
            raise GitError(f"{rev!r} is not a commit of the repository at {self.fleet_root}") from None

    def has_commit(self, sha: str) -> bool:
        return (
            subprocess.run(
                ["git", "-C", str(self.fleet_root), "cat-file", "-e", f"{sha}^{{commit}}"], capture_output=True
            ).returncode
            == 0
        )

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(
            ["git", "-C", str(self.fleet_root), "merge-base", "--is-ancestor", ancestor, descendant],
            capture_output=True,
        )
        if proc.returncode not in (0, 1):
            raise GitError(f"git merge-base --is-ancestor failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        out = self.run("merge-base", a, b, check=False).decode().strip()
        return out or None

    def commits(self, base: str | None, head: str) -> list[str]:
        """Commits after `base` up to `head`, oldest first."""
        spec = f"{base}..{head}" if base else head
        return self.run("rev-list", "--reverse", spec).decode().split()

    def subject(self, rev: str) -> str:
        return self.run("log", "-1", "--format=%s", rev).decode().strip()

    def changed_paths(self, base: str, head: str) -> list[ChangedPath]:
        """Paths under the fleet folder changed from base to head, renames detected."""
        # resolve first: outside a repository `git diff A B` would compare two files A and B
        base, head = self.resolve(base), self.resolve(head)
        prefix = self.prefix()
        args = ["diff", "--no-color", "--no-ext-diff", "--name-status", "-z", "-M", base, head]
        if prefix:
            args += ["--", f":(top){prefix}"]  # from the repository root, wherever git runs
        fields = self.run(*args).decode().split("\0")
        changes: list[ChangedPath] = []
        i = 0
        while i < len(fields) and fields[i]:
            status = fields[i]
            if status[0] in "RC":
                changes.append(ChangedPath(_strip(fields[i + 2], prefix), status[0], _strip(fields[i + 1], prefix)))
                i += 3
            else:
                changes.append(ChangedPath(_strip(fields[i + 1], prefix), status[0]))
                i += 2
        return changes

    def show(self, rev: str, path: str) -> bytes | None:
        """A file's bytes at `rev` (path relative to the fleet folder); None if absent there."""
        # raw bytes (cat-file, not show: no textconv); rev:path is from the repository root
        proc = subprocess.run(
            ["git", "-C", str(self.fleet_root), "cat-file", "blob", f"{rev}:{self.prefix()}{path}"], capture_output=True
        )
        return proc.stdout if proc.returncode == 0 else None

    def export(self, rev: str, target: Path) -> Path:
        """Write the fleet folder as it is at `rev` into `target`; returns the fleet root there."""
        # archiving the tree `rev:prefix` writes paths relative to the fleet folder, the same
        # from a work tree's subfolder and from a bare repository
        prefix = self.prefix().rstrip("/")
        tree = f"{rev}:{prefix}" if prefix else rev
        target.mkdir(parents=True, exist_ok=True)
        # from a subfolder git archive would add it as a pathspec: run at the top. Native tar
        # extracts ~600 files in tens of ms, where tarfile takes most of a second; git trees
        # cannot hold absolute or `..` paths, so nothing lands outside `target`.
        archive = subprocess.Popen(
            ["git", "-C", str(self._top()), "archive", "--format=tar", tree],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        untar = subprocess.run(
            ["tar", "-x", "--no-same-owner", "-C", str(target)], stdin=archive.stdout, capture_output=True
        )
        archive.stdout.close()
        err = archive.stderr.read().decode(errors="replace").strip()
        if archive.wait() != 0 or untar.returncode != 0:
            raise GitError(
                f"git archive {tree} failed in {self.fleet_root}: "
                f"{err or untar.stderr.decode(errors='replace').strip()}"
            )
        return target


def _strip(path: str, prefix: str) -> str:
    return path[len(prefix) :] if prefix and path.startswith(prefix) else path


@dataclass
class FleetRemote:
    """A cached bare clone of the fleet repository's watched branch.

    fetch() is incremental (only new objects travel); fleet_at(sha) exports the fleet folder
    at a commit once and reuses it, so sensor ticks and deploy runs stay fast.
    """

    remote: str  # URL or local path
    branch: str
    cache_dir: Path
    fleet_prefix: str = ""

    @property
    def mirror(self) -> Path:
        return self.cache_dir / "mirror.git"

    @property
    def repo(self) -> GitRepo:
        return GitRepo(self.mirror, self.fleet_prefix)

    def fetch(self) -> str:
        """Fetch the branch; returns its head sha. A force-push replaces the ref (old commits
        stay in the object store until gc, so a dropped cursor can still be compared)."""
        if not (self.mirror / "HEAD").exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix="mirror-", dir=self.cache_dir))
            _git("init", "--bare", "-q", str(tmp))
            os.replace(tmp, self.mirror) if not self.mirror.exists() else shutil.rmtree(tmp)
        ref = f"refs/heads/{self.branch}"
        _git("-C", str(self.mirror), "fetch", "--quiet", "--force", "--no-tags", self.remote, f"+{ref}:{ref}")
        return self.repo.resolve(ref)

    def resolve(self, rev: str) -> str:
        """The full sha of `rev` as a person types it for the watched branch: `HEAD`,
        `HEAD~2`, the branch's name (`main~2`), a short or full sha, a tag. The mirror has
        only the branch, so HEAD means its head. GitError unless the commit is on the branch
        (a deploy never leaves the watched history); call after fetch()."""
        ref = f"refs/heads/{self.branch}"
        typed = rev.strip()
        for name in ("HEAD", self.branch):
            if typed == name or typed.startswith((f"{name}~", f"{name}^")):
                typed = ref + typed[len(name) :]
                break
        try:
            sha = self.repo.resolve(typed)
        except GitError:
            raise GitError(
                f"{rev!r} names no commit of branch {self.branch} of {self.remote} "
                f"(give HEAD, HEAD~N, {self.branch}~N, or a sha of that branch)"
            ) from None
        if not self.repo.is_ancestor(sha, ref):
            raise GitError(f"{rev!r} ({sha[:12]}) is not on branch {self.branch} of {self.remote}")
        return sha

    def fleet_at(self, sha: str) -> Path:
        """The fleet folder as of `sha` (exported once, then reused)."""
        target = self.cache_dir / "trees" / sha
        if target.exists():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f"{sha[:12]}-", dir=self.cache_dir))
        try:
            self.repo.export(sha, tmp)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except OSError:
            if not target.exists():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target


def watched_remote(
    fleet_root: str | Path, cache_dir: str | Path, remote: str | None = None, branch: str | None = None
) -> FleetRemote:
    """The watched remote of the fleet whose checkout is at `fleet_root`: remote and branch
    from its fleet.yaml `git:` unless given; a relative remote (like ".") resolved from the
    checkout. Only fleet.yaml is read, so a broken cluster file does not stop the watch. The
    mirror is cached under `cache_dir`/git/<digest of remote and branch>."""
    from hub_ops.fleet.loader import load_settings

    root = Path(fleet_root).resolve()
    settings = load_settings(root)
    remote = remote or settings.git.remote
    prefix = ""
    try:
        local = GitRepo(root)
        prefix = local.prefix()
        if "://" not in remote and not remote.startswith("git@") and not Path(remote).is_absolute():
            if remote == ".":
                remote = local.run("rev-parse", "--show-toplevel").decode().strip()
            else:
                remote = str((root / remote).resolve())
    except GitError:
        if remote == ".":
            raise GitError(f"fleet.yaml git.remote is '.' but {root} is not in a git checkout") from None
    branch = branch or settings.git.branch
    key = hashlib.sha1(f"{remote}#{branch}".encode()).hexdigest()[:12]
    return FleetRemote(remote=remote, branch=branch, cache_dir=Path(cache_dir) / "git" / key, fleet_prefix=prefix)


def _git(*args: str) -> str:
    proc = subprocess.run(["git", *args], capture_output=True)
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout.decode()
