"""GitRepo against real repositories made with the git CLI in temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_ops.clients.git import GitError, GitRepo
from hub_ops.fleet.planner import ChangedPath
from hub_ops_tests.fleet_helpers import ScratchRepo, write


@pytest.fixture
def repo(tmp_path: Path) -> ScratchRepo:
    r = ScratchRepo.init(tmp_path / "repo")
    write(r.path, "README.md", "top\n")
    write(r.path, "fleet/fleet.yaml", "clusters_dir: clusters\n")
    write(r.path, "fleet/clusters/a/cluster.yaml", "name: a\n")
    write(r.path, "fleet/clusters/a/prod.values.yaml", "x: 1\n" * 20)
    write(r.path, "fleet/clusters/a/old.values.yaml", "y: 1\n")
    r.commit("one")
    return r


def test_changed_paths_statuses_relative_to_the_fleet_root(repo: ScratchRepo):
    base = repo.git("rev-parse", "HEAD")
    write(repo.path, "README.md", "changed outside the fleet\n")
    write(repo.path, "fleet/clusters/a/cluster.yaml", "name: a\nprovider: local\n")
    repo.git("mv", "fleet/clusters/a/prod.values.yaml", "fleet/clusters/a/production.values.yaml")
    repo.git("rm", "-q", "fleet/clusters/a/old.values.yaml")
    write(repo.path, "fleet/clusters/a/with space é.values.yaml", "z: 1\n")
    repo.commit("two")
    changes = GitRepo(repo.path / "fleet").changed_paths(base, "HEAD")
    assert sorted(changes, key=lambda c: c.path) == [
        ChangedPath("clusters/a/cluster.yaml", "M"),
        ChangedPath("clusters/a/old.values.yaml", "D"),
        ChangedPath("clusters/a/production.values.yaml", "R", "clusters/a/prod.values.yaml"),
        ChangedPath("clusters/a/with space é.values.yaml", "A"),
    ]
    whole = GitRepo(repo.path).changed_paths(base, "HEAD")
    assert ChangedPath("README.md", "M") in whole
    assert ChangedPath("fleet/clusters/a/cluster.yaml", "M") in whole


def test_changed_paths_of_an_empty_range(repo: ScratchRepo):
    assert GitRepo(repo.path / "fleet").changed_paths("HEAD", "HEAD") == []


def test_show_reads_a_file_at_a_revision(repo: ScratchRepo):
    base = repo.git("rev-parse", "HEAD")
    write(repo.path, "fleet/clusters/a/cluster.yaml", "name: a2\n")
    repo.commit("two")
    git = GitRepo(repo.path / "fleet")
    assert git.show(base, "clusters/a/cluster.yaml") == b"name: a\n"
    assert git.show("HEAD", "clusters/a/cluster.yaml") == b"name: a2\n"
    assert git.show(base, "clusters/b/cluster.yaml") is None
    assert git.show(base, "clusters/a") is None  # a folder is no file


def test_show_gives_the_raw_bytes_even_with_a_textconv_driver(repo: ScratchRepo):
    write(repo.path, ".gitattributes", "*.yaml diff=upper\n")
    repo.git("config", "diff.upper.textconv", "tr a-z A-Z <")
    repo.commit("textconv")
    assert GitRepo(repo.path / "fleet").show("HEAD", "clusters/a/cluster.yaml") == b"name: a\n"


def test_resolve_prefix_and_errors(repo: ScratchRepo, tmp_path: Path):
    git = GitRepo(repo.path / "fleet")
    assert git.resolve("HEAD") == repo.git("rev-parse", "HEAD")
    assert git.prefix() == "fleet/"
    assert GitRepo(repo.path).prefix() == ""
    with pytest.raises(GitError, match=f"'no-such-branch' is not a commit of the repository at {repo.path / 'fleet'}"):
        git.resolve("no-such-branch")
    with pytest.raises(GitError, match="'no-such-branch' is not a commit"):
        git.changed_paths("no-such-branch", "HEAD")
    with pytest.raises(GitError, match="'HEAD:README.md' is not a commit"):
        git.resolve("HEAD:README.md")
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        GitRepo(outside).changed_paths("HEAD~1", "HEAD")


@pytest.mark.parametrize("sub", ["fleet", ""])
def test_export_writes_the_fleet_as_committed(repo: ScratchRepo, tmp_path: Path, sub: str):
    base = repo.git("rev-parse", "HEAD")
    write(repo.path, "fleet/clusters/a/cluster.yaml", "name: a\nprovider: local\n")
    repo.commit("two")
    write(repo.path, "fleet/clusters/a/uncommitted.yaml", "not in any commit\n")
    git = GitRepo(repo.path / sub if sub else repo.path)
    root = git.export(base, tmp_path / "export")
    assert root == tmp_path / "export"
    prefix = "" if sub else "fleet/"
    assert (root / prefix / "clusters/a/cluster.yaml").read_text() == "name: a\n"
    assert (root / prefix / "fleet.yaml").is_file()
    assert not (root / prefix / "clusters/a/uncommitted.yaml").exists()
    assert (root / "README.md").exists() == (not sub)  # a subfolder fleet exports only itself


def test_watched_branch_resolves_what_people_type(repo: ScratchRepo, tmp_path: Path):
    """deploy_job's `commit`: HEAD, HEAD~N, <branch>~N, short and full shas of the watched
    branch; a commit off the branch or a name of nothing is refused, naming the branch."""
    from hub_ops.clients.git import FleetRemote

    two = repo.commit("two")
    three = repo.commit("three")
    one = repo.git("rev-parse", "HEAD~2")
    repo.git("checkout", "-q", "-b", "side")
    off_branch = repo.commit("side work")
    repo.git("checkout", "-q", "main")
    remote = FleetRemote(remote=str(repo.path), branch="main", cache_dir=tmp_path / "cache")
    assert remote.fetch() == three
    for typed, expected in (
        ("HEAD", three),
        ("main", three),
        ("HEAD~1", two),
        ("main~2", one),
        ("HEAD^", two),
        (two[:7], two),
        (one, one),
    ):
        assert remote.resolve(typed) == expected, typed
    with pytest.raises(GitError, match="'nope' names no commit of branch main of .* \\(give HEAD, HEAD~N, main~N"):
        remote.resolve("nope")
    with pytest.raises(GitError, match="names no commit of branch main"):
        remote.resolve(off_branch[:10])  # the mirror fetched main only: side's commits are not there
    # main rewound (a force-push): its old head stays in the mirror but is off the branch now
    repo.git("reset", "-q", "--hard", two)
    assert remote.fetch() == two
    with pytest.raises(GitError, match=f"'{three[:9]}' \\({three[:12]}\\) is not on branch main"):
        remote.resolve(three[:9])
