"""The fleet at a commit of the watched branch, as the deploy sensor plans with it: parsed
once per commit and kept beside the mirror's exported trees.

At 2,000 hubs most of a deploy_on_push tick went to exporting the fleet folder at the new
head and parsing and validating every cluster.yaml again. A push that changes no file the
loader reads (only values files, chart templates, docs) leaves the parsed fleet as it was at
the previous commit, so the tick reuses that one: no export, no parse. A push that changes
fleet.yaml, a cluster.yaml or a Chart.yaml loads the fleet at head in full, as before.
Idle ticks call `remember_fleet` for the head they watch, so the fleet of the commit before
a push is already parsed when the push arrives.

The cache holds pickles that only hub_ops writes (under its own cache folder), keyed by the
commit and by a digest of the hub_ops.fleet sources, so an upgraded hub_ops never reads a
fleet pickled by another version. A cache that cannot be read is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import posixpath
import tempfile
from functools import cache
from pathlib import Path

import hub_ops.fleet
from hub_ops.clients.git import FleetRemote, GitError
from hub_ops.fleet import Fleet, FleetConfigError, load_fleet
from hub_ops.fleet.loader import CLUSTER_FILE, FLEET_FILE
from hub_ops.fleet.planner import ChangedPath

# the only files load_fleet(check_files=False) reads (with the folders' listing)
READ_BY_LOADER = frozenset({FLEET_FILE, CLUSTER_FILE, "Chart.yaml"})


def changes_fleet(changes: list[ChangedPath]) -> bool:
    """Whether a fleet loaded without file checks could differ after `changes` (paths
    relative to the fleet folder): one of them adds, removes, renames or edits a file named
    like one the loader reads. Wider than the loader (a stray cluster.yaml deeper down also
    counts): a wrong "yes" costs one full load, a wrong "no" would plan with a stale fleet."""
    paths = [path for change in changes for path in (change.path, change.old_path) if path]
    return any(posixpath.basename(path) in READ_BY_LOADER for path in paths)


def fleet_for_plan(remote: FleetRemote, head: str, base: str, changes: list[ChangedPath]) -> Fleet:
    """The fleet at `head` for planning base..head: from the cache, else the fleet at `base`
    when `changes` leave it unchanged, else loaded from head's tree (FleetConfigError when
    invalid). Its root is the tree of the commit it was parsed at: planning reads no file
    there (values files are read by each deploy run from its own export)."""
    fleet = _read(remote, head)
    if fleet is None:
        previous = _read(remote, base)
        if previous is not None and not changes_fleet(changes):
            fleet = previous
        else:
            fleet = load_fleet(remote.fleet_at(head), check_files=False)
        _write(remote, head, fleet)
    return fleet


def remember_fleet(remote: FleetRemote, sha: str) -> None:
    """Parse the fleet at `sha` once, for the tick after the next push; an invalid fleet or
    a failed export is left for that tick to report."""
    if _path(remote, sha).exists():
        return
    try:
        _write(remote, sha, load_fleet(remote.fleet_at(sha), check_files=False))
    except (FleetConfigError, GitError, OSError):
        pass


@cache
def _fleet_code_digest() -> str:
    """A digest of hub_ops.fleet's sources: the models a pickle was made with."""
    digest = hashlib.sha1()
    for source in sorted(Path(hub_ops.fleet.__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()[:12]


def _path(remote: FleetRemote, sha: str) -> Path:
    return remote.cache_dir / "fleets" / _fleet_code_digest() / f"{sha}.pickle"


def _read(remote: FleetRemote, sha: str) -> Fleet | None:
    try:
        fleet = pickle.loads(_path(remote, sha).read_bytes())
    except Exception:  # noqa: BLE001 - absent, half-written by a killed process, or unreadable: a miss
        return None
    return fleet if isinstance(fleet, Fleet) else None


def _write(remote: FleetRemote, sha: str, fleet: Fleet) -> None:
    target = _path(remote, sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{sha[:12]}-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            pickle.dump(fleet, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)  # a reader sees the whole pickle or none
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
