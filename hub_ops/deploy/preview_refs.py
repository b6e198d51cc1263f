"""Which branches of the fleet repo to preview (fleet.yaml `git.preview_branches`) and
bringing one into the watched branch's cached mirror, so it can be diffed against it.

A preview is named by its key: the branch name for a branch glob (`pr/*` -> `pr:12`), the
whole ref for a ref glob (`refs/pull/*/head` -> `refs:pull:12:head`), "/" written ":" as the
key is a Dagster partition key (as the hubs partitions, no "/"); git forbids ":" in ref
names, so the key maps back to exactly one ref.
"""

from __future__ import annotations

import fnmatch
import subprocess

from hub_ops.clients.git import FleetRemote, GitError

PREVIEW_NAMESPACE = "refs/hub-ops/previews/"  # where the mirror keeps fetched preview refs


def preview_key(name: str) -> str:
    """A branch name or a whole ref as a partition key."""
    return name.replace("/", ":")


def ref_of(key: str) -> str:
    """The ref a preview key names."""
    name = key.replace(":", "/")
    return name if name.startswith("refs/") else f"refs/heads/{name}"


def matching_refs(remote: str, patterns: list[str], exclude_branch: str) -> dict[str, str]:
    """Preview key -> head sha of every ref of `remote` a pattern matches, except the
    watched branch itself. One `git ls-remote`; raises GitError naming the remote."""
    proc = subprocess.run(["git", "ls-remote", "--refs", remote], capture_output=True, timeout=60)
    if proc.returncode != 0:
        raise GitError(f"git ls-remote {remote} failed: {proc.stderr.decode(errors='replace').strip()}")
    out: dict[str, str] = {}
    for line in proc.stdout.decode().splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{exclude_branch}":
            continue
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        for pattern in patterns:
            if pattern.startswith("refs/"):
                if fnmatch.fnmatchcase(ref, pattern):
                    out[preview_key(ref)] = sha
            elif branch is not None and fnmatch.fnmatchcase(branch, pattern):
                out[preview_key(branch)] = sha
    return dict(sorted(out.items()))


def fetch_preview(remote: FleetRemote, key: str) -> str:
    """Fetch the preview's ref into the mirror (after remote.fetch() made it); its head sha."""
    ref = ref_of(key)
    local = PREVIEW_NAMESPACE + ref.removeprefix("refs/")
    remote.repo.run("fetch", "--quiet", "--force", "--no-tags", remote.remote, f"+{ref}:{local}")
    return remote.repo.resolve(local)
