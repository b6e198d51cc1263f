"""Which releases a change deploys: the one place that maps changed paths to releases.

Pure: the fleet, the changed paths and (for a git range) the old cluster.yaml documents in;
an ordered Plan out. The git resource supplies paths and old documents; nothing here runs
git, helm or Dagster.

Rules (see README "Planning"):
- a hub's values file or chart_override -> that hub; a shared values file -> every hub
  listing it; a support values file -> that cluster's support release;
- cluster.yaml -> with the old document: only hubs whose entries changed (all of them, and
  support, when the provider or support block changed), removed entries reported as
  "removed: needs decommission"; without it: every hub and the support release;
- anything under a chart's folder -> every hub whose chart is that chart or includes it
  through file:// dependencies; a support chart -> the support release of every cluster;
- a path matching a fleet.yaml `deploy_all_on` glob -> everything;
- any prod hub of a cluster brings that cluster's staging hubs in first (the canary).
Order: support by cluster; then staging hubs; then prod hubs; each by cluster name, then
the order of the cluster's hubs list.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from hub_ops.fleet.loader import CLUSTER_FILE, Fleet
from hub_ops.fleet.models import Hub
from hub_ops.fleet.yamlfiles import parse_yaml

# hub_ops keys that never reach helm: editing them must not redeploy a hub
NON_RELEASE_HUB_KEYS = frozenset({"backups", "decommission", "home"})
NON_RELEASE_CLUSTER_KEYS = frozenset({"hubs", "metadata", "provider_url", "node_pools"})


@dataclass(frozen=True)
class ChangedPath:
    """A path changed between two commits, relative to the fleet root (POSIX).

    status: git's letter (A added, M modified, D deleted, R renamed); old_path for renames.
    """

    path: str
    status: str = "M"
    old_path: str | None = None


@dataclass
class Plan:
    support: list[str] = field(default_factory=list)  # cluster names
    staging: list[str] = field(default_factory=list)  # hub ids <cluster>/<hub>
    prod: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # hub ids gone from config: need decommission
    skipped: list[str] = field(default_factory=list)  # hub ids excluded (e.g. decommissioned)
    ignored: list[str] = field(default_factory=list)  # changed paths that deploy nothing
    reasons: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.support or self.staging or self.prod or self.removed)

    def hub_ids(self) -> list[str]:
        return self.staging + self.prod

    def clusters(self) -> list[str]:
        """Clusters touched by the plan, sorted."""
        return sorted(set(self.support) | {h.split("/", 1)[0] for h in self.hub_ids()})

    def to_dict(self) -> dict[str, Any]:
        return {
            "support": self.support,
            "staging": self.staging,
            "prod": self.prod,
            "removed": self.removed,
            "skipped": self.skipped,
            "ignored": self.ignored,
            "reasons": self.reasons,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def rows(self) -> list[tuple[str, str, str]]:
        """(kind, release, reasons) lines in deploy order, for tables."""
        out = [("support", c, "; ".join(self.reasons.get(c, []))) for c in self.support]
        out += [("staging", h, "; ".join(self.reasons.get(h, []))) for h in self.staging]
        out += [("prod", h, "; ".join(self.reasons.get(h, []))) for h in self.prod]
        out += [("removed", h, "; ".join(self.reasons.get(h, []))) for h in self.removed]
        out += [("skipped", h, "; ".join(self.reasons.get(h, []))) for h in self.skipped]
        return out


@dataclass
class _Index:
    """Which release each file of the fleet feeds. Built once per loaded fleet."""

    files: dict[str, set[str]]  # relpath -> {"<cluster>" (support) | "<cluster>/<hub>"}
    chart_of_folder: dict[str, str]  # "charts/basehub" -> "basehub"
    hub_order: dict[str, tuple[str, int]]  # hub id -> (cluster, position)


def _index(fleet: Fleet) -> _Index:
    cached = fleet.__dict__.get("_plan_index")
    if cached is not None:
        return cached
    files: dict[str, set[str]] = defaultdict(set)
    order: dict[str, tuple[str, int]] = {}
    clusters_rel = fleet.settings.clusters_dir
    for cluster in fleet.clusters.values():
        base = f"{clusters_rel}/{cluster.name}/"
        if cluster.support:
            for name in cluster.support.helm_chart_values_files:
                files[posixpath.normpath(base + name)].add(cluster.name)
        for i, hub in enumerate(cluster.hubs):
            order[hub.id] = (cluster.name, i)
            for name in hub.helm_chart_values_files:
                files[posixpath.normpath(base + name)].add(hub.id)
            if hub.chart_override:
                files[posixpath.normpath(base + hub.chart_override)].add(hub.id)
    charts_rel = fleet.settings.charts_dir
    index = _Index(dict(files), {f"{charts_rel}/{name}": name for name in fleet.charts}, order)
    fleet.__dict__["_plan_index"] = index
    return index


class _Builder:
    def __init__(self, fleet: Fleet, skip: Mapping[str, str]):
        self.fleet = fleet
        self.skip = skip
        self.reasons: dict[str, list[str]] = defaultdict(list)
        self.support: set[str] = set()
        self.hubs: set[str] = set()
        self.removed: set[str] = set()
        self.skipped: set[str] = set()
        self.ignored: list[str] = []
        self.matched = False  # did the current path feed any release?

    def add_support(self, cluster: str, reason: str) -> None:
        c = self.fleet.clusters.get(cluster)
        if c is None or c.support is None:
            return
        self.support.add(cluster)
        self._reason(cluster, reason)

    def add_hub(self, hub_id: str, reason: str) -> None:
        if hub_id in self.skip:
            self.skipped.add(hub_id)
            self._reason(hub_id, f"skipped: {self.skip[hub_id]}")
            return
        self.hubs.add(hub_id)
        self._reason(hub_id, reason)

    def add_target(self, target: str, reason: str) -> None:
        if "/" in target:
            self.add_hub(target, reason)
        else:
            self.add_support(target, reason)

    def add_cluster(self, cluster: str, reason: str) -> None:
        self.add_support(cluster, reason)
        for hub in self.fleet.clusters[cluster].hubs:
            self.add_hub(hub.id, reason)

    def _reason(self, key: str, reason: str) -> None:
        self.matched = True
        if reason not in self.reasons[key]:
            self.reasons[key].append(reason)


def plan_changes(
    fleet: Fleet,
    changes: Iterable[ChangedPath | str],
    *,
    old_cluster_docs: Mapping[str, dict | None] | None = None,
    skip: Mapping[str, str] | None = None,
) -> Plan:
    """The ordered plan for `changes` (paths relative to the fleet root) against `fleet`.

    old_cluster_docs: for a git range, the parsed cluster.yaml of each cluster whose
    cluster.yaml changed, as it was at the base commit (None when it did not exist).
    With it, a cluster.yaml edit plans only what changed and reports removed hubs.
    skip: hub ids to leave out, with the reason (e.g. decommissioned hubs).
    """
    index = _index(fleet)
    b = _Builder(fleet, skip or {})
    old_docs = old_cluster_docs or {}
    clusters_prefix = fleet.settings.clusters_dir + "/"
    charts_prefix = fleet.settings.charts_dir + "/"

    for change in changes:
        if isinstance(change, str):
            change = ChangedPath(change)
        change = _normalized(change)
        paths = [change.path] + ([change.old_path] if change.old_path else [])
        for path in paths:
            b.matched = False
            _plan_path(fleet, index, b, path, change, old_docs, clusters_prefix, charts_prefix)
            if not b.matched and path not in b.ignored:
                b.ignored.append(path)

    _add_canaries(fleet, b)
    return _ordered(fleet, index, b)


def _normalized(change: ChangedPath) -> ChangedPath:
    # "./clusters/x" and "clusters/x" are the same file: compare paths, not spellings
    path = posixpath.normpath(change.path)
    old = posixpath.normpath(change.old_path) if change.old_path else None
    return change if (path, old) == (change.path, change.old_path) else ChangedPath(path, change.status, old)


def _plan_path(fleet, index, b: _Builder, path, change, old_docs, clusters_prefix, charts_prefix) -> None:
    verb = {"A": "added", "D": "deleted", "R": "renamed"}.get(change.status[:1], "changed")
    for pattern in fleet.settings.deploy_all_on:
        if fnmatch.fnmatchcase(path, pattern):
            for cluster in fleet.clusters:
                b.add_cluster(cluster, f"{path} {verb} (deploy_all_on: {pattern})")
            return

    if path.startswith(clusters_prefix):
        cluster, _, rest = path[len(clusters_prefix) :].partition("/")
        if rest == CLUSTER_FILE:
            _plan_cluster_file(fleet, b, cluster, path, old_docs, verb)
            return
        for target in index.files.get(path, ()):
            b.add_target(target, f"{path} {verb}")
        # a file the base config listed (deleted or renamed away): plan who listed it
        old = old_docs.get(cluster)
        if old and change.status[:1] in "DR":
            for target in _old_references(old, cluster, rest):
                if target in fleet.clusters or _hub_exists(fleet, target):
                    b.add_target(target, f"{path} {verb}")
        return

    if path.startswith(charts_prefix):
        chart_folder = "/".join(path.split("/")[: charts_prefix.count("/") + 1])
        chart = index.chart_of_folder.get(chart_folder) or chart_folder.rsplit("/", 1)[-1]
        using = fleet.charts_using(chart)
        reason = f"chart {chart} {verb} ({path})"
        for cluster in fleet.clusters.values():
            if cluster.support and cluster.support.helm_chart in using:
                b.add_support(cluster.name, reason)
            for hub in cluster.hubs:
                if hub.helm_chart in using:
                    b.add_hub(
                        hub.id,
                        reason
                        if hub.helm_chart == chart
                        else f"chart {hub.helm_chart} includes {chart}, {verb} ({path})",
                    )


def _hub_exists(fleet: Fleet, hub_id: str) -> bool:
    cluster, _, name = hub_id.partition("/")
    return cluster in fleet.clusters and fleet.clusters[cluster].hub(name) is not None


def _old_references(old: dict, cluster: str, filename: str) -> list[str]:
    out = []
    if filename in ((old.get("support") or {}).get("helm_chart_values_files") or []):
        out.append(cluster)
    for hub in old.get("hubs") or []:
        if isinstance(hub, dict) and (
            filename in (hub.get("helm_chart_values_files") or []) or hub.get("chart_override") == filename
        ):
            out.append(f"{cluster}/{hub.get('name')}")
    return out


def _plan_cluster_file(fleet: Fleet, b: _Builder, cluster: str, path: str, old_docs, verb: str) -> None:
    current = fleet.clusters.get(cluster)
    if cluster not in old_docs:  # no history given: the whole cluster
        if current is not None:
            b.add_cluster(cluster, f"{path} {verb}")
        return
    old = old_docs[cluster]
    old_hubs = {h.get("name"): h for h in (old or {}).get("hubs") or [] if isinstance(h, dict)}
    if current is None:  # the cluster is gone
        for name in old_hubs:
            b.removed.add(f"{cluster}/{name}")
            b._reason(f"{cluster}/{name}", f"cluster removed ({path} {verb}): needs decommission")
        return
    if old is None:
        b.add_cluster(cluster, f"new cluster ({path} {verb})")
        return
    new_doc = current.model_dump(mode="json", exclude_unset=True)
    if _cluster_level(old) != _cluster_level(new_doc):
        changed_keys = sorted(
            k
            for k in set(_cluster_level(old)) | set(_cluster_level(new_doc))
            if _cluster_level(old).get(k) != _cluster_level(new_doc).get(k)
        )
        b.add_cluster(cluster, f"{path}: {', '.join(changed_keys)} changed")
        return
    new_hubs = {h["name"]: h for h in new_doc.get("hubs", [])}
    for name, entry in new_hubs.items():
        hub_id = f"{cluster}/{name}"
        if name not in old_hubs:
            b.add_hub(hub_id, f"hub added to {path}")
        else:
            keys = _changed_release_keys(old_hubs[name], entry)
            if keys:
                b.add_hub(hub_id, f"{path}: hub entry changed ({', '.join(keys)})")
    for name in old_hubs:
        if name not in new_hubs:
            hub_id = f"{cluster}/{name}"
            b.removed.add(hub_id)
            b._reason(hub_id, f"removed from {path}: needs decommission")


def _cluster_level(doc: dict) -> dict:
    return {k: _normal(v) for k, v in doc.items() if k not in NON_RELEASE_CLUSTER_KEYS}


def _changed_release_keys(old: dict, new: dict) -> list[str]:
    keys = (set(old) | set(new)) - NON_RELEASE_HUB_KEYS
    return sorted(k for k in keys if _normal(old.get(k)) != _normal(new.get(k)))


def _normal(value: Any) -> Any:
    # compare YAML as loaded with pydantic's dump: dates and numbers as JSON would show them
    return json.loads(json.dumps(value, default=str, sort_keys=True)) if value is not None else None


def _add_canaries(fleet: Fleet, b: _Builder) -> None:
    prod_by_cluster: dict[str, list[str]] = defaultdict(list)
    for hub_id in b.hubs:
        cluster, _, name = hub_id.partition("/")
        if fleet.clusters[cluster].hub(name).effective_tier == "prod":
            prod_by_cluster[cluster].append(hub_id)
    for cluster, prods in prod_by_cluster.items():
        for hub in fleet.clusters[cluster].hubs:
            if hub.effective_tier == "staging" and hub.id not in b.hubs:
                b.add_hub(hub.id, f"staging canary for {', '.join(sorted(prods))}")


def _ordered(fleet: Fleet, index: _Index, b: _Builder) -> Plan:
    def hub_key(hub_id: str) -> tuple[str, int]:
        return index.hub_order.get(hub_id, (hub_id, 0))

    def tier(hub_id: str) -> str:
        cluster, _, name = hub_id.partition("/")
        hub: Hub | None = fleet.clusters[cluster].hub(name)
        return hub.effective_tier if hub else "prod"

    hubs = sorted(b.hubs, key=hub_key)
    plan = Plan(
        support=sorted(b.support),
        staging=[h for h in hubs if tier(h) == "staging"],
        prod=[h for h in hubs if tier(h) == "prod"],
        removed=sorted(b.removed),
        skipped=sorted(b.skipped, key=hub_key),
        ignored=b.ignored,
    )
    for key in plan.support + plan.staging + plan.prod + plan.removed + plan.skipped:
        plan.reasons[key] = b.reasons[key]
    return plan


def plan_range(
    fleet: Fleet,
    changes: list[ChangedPath],
    read_at_base: Callable[[str], bytes | None],
    *,
    skip: Mapping[str, str] | None = None,
) -> Plan:
    """Plan a git range: `changes` from base to head, `fleet` loaded at head.

    read_at_base(path) returns a file's bytes at the base commit (None if absent); it is
    called only for the cluster.yaml files that changed.
    """
    old_docs: dict[str, dict | None] = {}
    prefix = fleet.settings.clusters_dir + "/"
    for change in changes:
        for path in filter(None, (change.path, change.old_path)):
            cluster, _, rest = path.removeprefix(prefix).partition("/")
            if path.startswith(prefix) and rest == CLUSTER_FILE and cluster not in old_docs:
                raw = read_at_base(path)
                try:
                    doc = parse_yaml(raw) if raw is not None else None
                except yaml.YAMLError:
                    doc = {}  # unreadable at base: treat every hub as changed
                old_docs[cluster] = doc if isinstance(doc, dict) or doc is None else {}
    return plan_changes(fleet, changes, old_cluster_docs=old_docs, skip=skip)


def plan_releases(fleet: Fleet, release_ids: Iterable[str], reason: str = "requested") -> Plan:
    """A plan of exactly the given releases (`cluster/hub`, or `cluster` for its support
    release), in deploy order. Raises KeyError naming an unknown id."""
    b = _Builder(fleet, {})
    for rid in release_ids:
        if "/" in rid:
            fleet.hub(rid)  # raises KeyError with suggestions
            b.add_hub(fleet.hub(rid).id, reason)
        elif rid in fleet.clusters:
            if fleet.clusters[rid].support is None:
                raise KeyError(f"cluster {rid!r} has no support release")
            b.add_support(rid, reason)
        else:
            raise KeyError(f"no cluster {rid!r} in the fleet (give cluster/hub for a hub)")
    return _ordered(fleet, _index(fleet), b)
