"""What a change does to each release: rendered manifests at base and at head, compared
object by object (kind/namespace/name), secrets masked, risky changes flagged.

Everything renders in-process and offline (values layered with sops decrypted in memory,
charts prepared as a deploy prepares them), so a preview of a whole fleet needs no cluster.
The live mode compares head with what each release's cluster runs (hub_ops.deploy.live).

Never shown: a Secret's data and any value of a sops file (hub_ops.deploy.masking); every
diff, summary, flag and error message passes through the release's Masker first.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub_ops.clients.helm import HelmFailure, render_chart
from hub_ops.clients.kube import ClusterUnreachable
from hub_ops.clients.sops import Sops
from hub_ops.deploy.live import LiveCluster, as_applied, project, pruned
from hub_ops.deploy.manifests import documents
from hub_ops.deploy.masking import Masker, secret_strings
from hub_ops.deploy.releases import PreparedCharts, Release, release_for_id
from hub_ops.deploy.risks import RiskFlag, risk_flags
from hub_ops.deploy.values import load_values_files, values_digest
from hub_ops.fleet import FleetConfigError, load_fleet
from hub_ops.fleet.loader import Fleet, is_secret_name
from hub_ops.fleet.planner import Plan, plan_range

# objects without a namespace whatever the release's namespace is
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "APIService",
}
MARKDOWN_LIMIT = 60_000  # characters of diff per release in Dagster metadata


def object_key(doc: dict[str, Any], namespace: str) -> str:
    """kind/namespace/name; namespace "" for cluster-scoped kinds, the release's when unset."""
    kind = doc.get("kind", "?")
    meta = doc.get("metadata") or {}
    ns = "" if kind in CLUSTER_SCOPED else (meta.get("namespace") or namespace)
    return f"{kind}/{ns}/{meta.get('name', '?')}"


# ------------------------------------------------------------------ results


@dataclass
class ObjectDiff:
    key: str  # kind/namespace/name
    change: str  # added | changed | removed
    diff: str  # unified diff of the masked objects

    def as_dict(self) -> dict[str, str]:
        return {"object": self.key, "change": self.change, "diff": self.diff}


@dataclass
class ReleaseDiff:
    release: str  # cluster/hub, or cluster for its support release
    step: str  # support | staging | prod | removed (from config) | release (not from a plan)
    reasons: list[str] = field(default_factory=list)
    objects: list[ObjectDiff] = field(default_factory=list)
    flags: list[RiskFlag] = field(default_factory=list)
    error: str = ""  # why the release could not be compared (masked)

    def count(self, change: str) -> int:
        return sum(o.change == change for o in self.objects)

    @property
    def status(self) -> str:
        return "error" if self.error else "changed" if self.objects else "no change"

    def summary(self) -> str:
        if self.error:
            return f"{self.release}: not compared: {self.error}"
        if not self.objects:
            planned = " (planned, but renders the same: deploys nothing)" if self.step != "release" else ""
            return f"{self.release}: no change{planned}"
        counts = ", ".join(f"{self.count(c)} {c}" for c in ("added", "changed", "removed"))
        flags = f", {len(self.flags)} risk flag(s)" if self.flags else ""
        return f"{self.release}: {counts}{flags}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "release": self.release,
            "step": self.step,
            "reasons": self.reasons,
            "status": self.status,
            "added": self.count("added"),
            "changed": self.count("changed"),
            "removed": self.count("removed"),
            "risk_flags": [f.as_dict() for f in self.flags],
            "objects": [o.as_dict() for o in self.objects],
            "error": self.error,
        }

    def text(self) -> str:
        lines = [f"=== {self.step} {self.summary()}"]
        lines += [f"    why: {r}" for r in self.reasons]
        lines += [o.diff.rstrip("\n") for o in self.objects]
        return "\n".join(lines)

    def markdown(self, limit: int = MARKDOWN_LIMIT) -> str:
        """The release's summary, flags and diff as markdown (a deploy step's or a preview's)."""
        lines = [f"**{self.summary()}**", ""]
        lines += [f"- :warning: {f.text()}" for f in self.flags]
        if self.objects:
            body = "\n".join(o.diff.rstrip("\n") for o in self.objects)
            if len(body) > limit:
                body = body[:limit] + f"\n... ({len(body) - limit} more characters: run `hub-ops diff` for all)"
            lines += ["", "```diff", body.replace("```", "` ` `"), "```"]
        return "\n".join(lines)


@dataclass
class FleetDiff:
    base: str  # a commit, or "live"
    head: str
    releases: list[ReleaseDiff]
    ignored: list[str] = field(default_factory=list)  # changed paths that feed no release
    not_planned: list[str] = field(default_factory=list)  # --hub ids the plan does not name

    @property
    def flags(self) -> list[tuple[str, RiskFlag]]:
        return [(r.release, f) for r in self.releases for f in r.flags]

    @property
    def errors(self) -> list[ReleaseDiff]:
        return [r for r in self.releases if r.error]

    def release(self, release_id: str) -> ReleaseDiff | None:
        return next((r for r in self.releases if r.release == release_id), None)

    def summary(self) -> str:
        if not self.releases:
            return f"fleet: nothing planned for {self.base[:12]}..{self.head[:12]}"
        changed = [r for r in self.releases if r.status == "changed"]
        same = [r for r in self.releases if r.status == "no change"]
        totals = ", ".join(f"{sum(r.count(c) for r in self.releases)} {c}" for c in ("added", "changed", "removed"))
        errors = f", {len(self.errors)} not compared" if self.errors else ""
        return (
            f"fleet: {len(self.releases)} release(s), {len(changed)} changed, {len(same)} no change{errors}; "
            f"objects {totals}; {len(self.flags)} risk flag(s)"
        )

    def text(self) -> str:
        lines = [f"diff {self.base[:12]}..{self.head[:12]}"]
        if self.flags:
            lines.append(f"RISK FLAGS ({len(self.flags)}):")
            lines += [f"  {rid}: {f.text()}" for rid, f in self.flags]
        for r in self.releases:
            lines += ["", r.text()]
        if self.not_planned:
            lines += ["", f"not in the plan (nothing to compare): {', '.join(self.not_planned)}"]
        if self.ignored:
            lines += ["", f"(changed, deploys nothing: {', '.join(self.ignored)})"]
        lines += ["", self.summary()]
        return "\n".join(lines)

    def summary_markdown(self) -> str:
        """Flags on top, then one row per release: what a plan step or a preview shows."""
        lines = [f"**{self.summary()}**", ""]
        if self.flags:
            lines += ["Risk flags:", ""] + [f"- :warning: `{rid}` {f.text()}" for rid, f in self.flags] + [""]
        if self.releases:
            lines += ["| release | step | added | changed | removed | risk flags | status |", "|---" * 7 + "|"]
            for r in self.releases:
                lines.append(
                    f"| `{r.release}` | {r.step} | {r.count('added')} | {r.count('changed')} | {r.count('removed')} "
                    f"| {len(r.flags)} | {r.summary().split(': ', 1)[1].replace('|', '/')} |"
                )
        return "\n".join(lines)

    def markdown(self, limit: int = MARKDOWN_LIMIT) -> str:
        parts = [self.summary_markdown()]
        budget = limit
        for r in self.releases:
            if r.objects:
                part = r.markdown(limit=max(2_000, budget))
                budget -= len(part)
                parts += ["", f"### `{r.release}`", part]
        return "\n".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "head": self.head,
            "summary": self.summary(),
            "risk_flags": [{"release": rid, **f.as_dict()} for rid, f in self.flags],
            "releases": [r.as_dict() for r in self.releases],
            "ignored": self.ignored,
            "not_planned": self.not_planned,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


# ------------------------------------------------------------------ rendering


class DecryptCache:
    """Sops with memory: a file whose bytes are the same at base and head is decrypted once.
    Decrypted documents stay in this process's memory only."""

    def __init__(self, sops: Sops):
        self.sops = sops
        self._docs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def decrypt(self, path: Path, display_name: str | None = None) -> Any:
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        with self._lock:
            if key in self._docs:
                return copy.deepcopy(self._docs[key])
        doc = self.sops.decrypt(path, display_name)
        with self._lock:
            self._docs[key] = doc
        return copy.deepcopy(doc)


@dataclass
class Rendered:
    release: Release
    objects: dict[str, dict[str, Any]]  # by object key
    secrets: set[str]  # every string of the release's sops files
    secret_paths: set[tuple[str, ...]]  # where in the values the sops files put them


class FleetRenderer:
    """Renders releases of one fleet folder (a commit's export) offline; thread-safe.
    Renders are shared through `cache` between renderers whose chart and values are equal."""

    def __init__(self, root: Path, sops: DecryptCache, cache: dict[str, dict[str, str]]):
        self.fleet: Fleet = load_fleet(root, check_files=False)
        self.sops = sops
        self.cache = cache
        self.charts = PreparedCharts(self.fleet)
        self._chart_digests: dict[tuple, str] = {}

    def close(self) -> None:
        self.charts.__exit__(None, None, None)

    def release(self, release_id: str) -> Release | None:
        try:
            return release_for_id(self.fleet, release_id)
        except KeyError:
            return None

    def render(self, release: Release) -> Rendered:
        """Raises ValueError/HelmFailure/OSError with a message that may quote a secret:
        callers mask it."""
        secrets: set[str] = set()
        paths: set[tuple[str, ...]] = set()
        values = load_values_files(list(release.values_files), self.sops, self.fleet.root, secrets)
        for path in release.values_files:
            if is_secret_name(path.name):
                doc = self.sops.decrypt(path)  # cached: decrypted once above
                secrets |= secret_strings(doc)
                paths |= set(_leaf_paths(doc))
        key = json.dumps([self._chart_digest(release), release.name, release.namespace, values_digest(values)])
        manifests = self.cache.get(key)
        if manifests is None:
            manifests = render_chart(self.charts.path(release), release.name, release.namespace, values)
            self.cache[key] = manifests
        docs = documents(manifests.values())
        return Rendered(release, {object_key(d, release.namespace): d for d in docs}, secrets, paths)

    def _chart_digest(self, release: Release) -> str:
        key = (release.chart, release.chart_override)
        if key not in self._chart_digests:
            h = hashlib.sha256()
            for name in _chart_chain(self.fleet, release.chart):
                folder = self.fleet.charts_dir / name
                for f in sorted(folder.rglob("*")):
                    rel = f.relative_to(folder)
                    # built dependencies (charts/, *.tgz) are derived from the charts hashed here
                    if f.is_file() and f.suffix != ".tgz" and "charts" not in rel.parts[:-1]:
                        h.update(f"{name}/{rel.as_posix()}\0".encode() + f.read_bytes() + b"\0")
            if release.chart_override:
                h.update(b"override\0" + release.chart_override.read_bytes())
            self._chart_digests[key] = h.hexdigest()
        return self._chart_digests[key]


def _chart_chain(fleet: Fleet, chart: str) -> list[str]:
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out:
            return
        out.append(name)
        for dep in fleet.charts[name].local_dependencies if name in fleet.charts else ():
            visit(dep)

    visit(chart)
    return out


def _leaf_paths(doc: Any, prefix: tuple[str, ...] = ()) -> Iterable[tuple[str, ...]]:
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaf_paths(v, (*prefix, str(k)))
    elif prefix:
        yield prefix


def _at(values: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(values, dict) or part not in values:
            return None
        values = values[part]
    return values


# ------------------------------------------------------------------ comparing


class _Display(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    # multi-line strings (config files in ConfigMaps) as blocks, so a diff shows the line
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Display.add_representer(str, _str)


def _display(doc: dict[str, Any]) -> list[str]:
    return yaml.dump(_expanded(doc), Dumper=_Display, sort_keys=True, width=120).splitlines(keepends=True)


def _expanded(value: Any) -> Any:
    """Display only: a JSON object kept in a string (toJson config) shown indented."""
    if isinstance(value, dict):
        return {k: _expanded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expanded(v) for v in value]
    if isinstance(value, str) and len(value) > 2 and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), indent=2, sort_keys=True) + "\n"
        except ValueError:
            return value
    return value


def diff_objects(
    base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]], masker: Masker, labels: tuple[str, str]
) -> list[ObjectDiff]:
    """One unified diff per object that differs, masked, in key order."""
    out = []
    for key in sorted(set(base) | set(head)):
        old, new = base.get(key), head.get(key)
        if old == new:
            continue
        change = "added" if old is None else "removed" if new is None else "changed"
        lines = difflib.unified_diff(
            _display(masker.doc(old)) if old is not None else [],
            _display(masker.doc(new)) if new is not None else [],
            f"{labels[0]}/{key}",
            f"{labels[1]}/{key}",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        out.append(ObjectDiff(key, change, masker.text(text)))
    return out


def _masked_flags(flags: list[RiskFlag], masker: Masker) -> list[RiskFlag]:
    return [RiskFlag(f.kind, f.object, masker.text(f.detail)) for f in flags]


def _namespace_flags(base: Release | None, head: Release | None) -> list[RiskFlag]:
    if base and head and base.namespace != head.namespace:
        return [RiskFlag("replaced", head.id, f"namespace {base.namespace} -> {head.namespace}: re-created elsewhere")]
    return []


# ------------------------------------------------------------------ base..head


def planned_releases(plan: Plan) -> list[tuple[str, str, list[str]]]:
    """(release id, step, reasons) of every release a plan deploys or removes, in order."""
    return [(rid, step, plan.reasons.get(rid, [])) for step, rid, _ in plan.rows() if step != "skipped"]


def plan_preview(
    base_root: Path,
    head_root: Path,
    plan: Plan,
    sops: Sops,
    *,
    base: str = "base",
    head: str = "head",
    only: Iterable[str] | None = None,
    workers: int | None = None,
) -> FleetDiff:
    """Diff every release of `plan` between two fleet folders (a commit's exports).

    What deploy_job's plan step calls: `.summary_markdown()` for the run, and
    `.release(id).markdown()` for each release step. Reads files only; never touches a
    cluster, never writes outside a temporary folder of its own, safe to call again.
    """
    entries = planned_releases(plan)
    wanted = list(only or [])
    not_planned = [w for w in wanted if w not in {rid for rid, _, _ in entries}]
    if wanted:
        entries = [e for e in entries if e[0] in wanted]
    cache: dict[str, dict[str, str]] = {}
    decrypt = DecryptCache(sops)
    with ExitStack() as stack:
        sides = []
        for root in (base_root, head_root):
            try:
                renderer = FleetRenderer(Path(root), decrypt, cache)
            except FleetConfigError as e:
                sides.append(f"fleet config invalid at {base if root == base_root else head}: {str(e).splitlines()[0]}")
                continue
            stack.callback(renderer.close)
            sides.append(renderer)

        def one(entry: tuple[str, str, list[str]]) -> ReleaseDiff:
            return _diff_release(entry, sides[0], sides[1])

        results = _map(one, entries, workers)
    return FleetDiff(base, head, results, list(plan.ignored), not_planned)


def _diff_release(entry, base_side, head_side) -> ReleaseDiff:
    rid, step, reasons = entry
    out = ReleaseDiff(rid, step, list(reasons))
    for side in (base_side, head_side):
        if isinstance(side, str):
            out.error = side
            return out
    secrets: set[str] = set()
    rendered = []
    for side in (base_side, head_side):
        release = side.release(rid)
        try:
            rendered.append(side.render(release) if release else None)
        except (HelmFailure, ValueError, OSError) as e:
            secrets |= _secrets_of(side, release)
            out.error = Masker(secrets).text(f"{'base' if side is base_side else 'head'}: {e}")
            return out
    old, new = rendered
    for r in rendered:
        secrets |= r.secrets if r else set()
    masker = Masker(secrets)
    base_objects, head_objects = (old.objects if old else {}), (new.objects if new else {})
    out.objects = diff_objects(base_objects, head_objects, masker, ("base", "head"))
    flags = _namespace_flags(old.release if old else None, new.release if new else None)
    out.flags = _masked_flags(flags + risk_flags(base_objects, head_objects), masker)
    return out


def _secrets_of(side: FleetRenderer, release: Release | None) -> set[str]:
    """The sops strings of a release whose render failed (its error may quote them)."""
    out: set[str] = set()
    for path in release.values_files if release else ():
        if is_secret_name(path.name):
            try:
                out |= secret_strings(side.sops.decrypt(path))
            except Exception:  # noqa: BLE001 - an undecryptable file has nothing to leak
                continue
    return out


def _map(fn, items: list, workers: int | None) -> list:
    # sops runs as a subprocess and helm renders in Go: threads overlap both
    workers = workers or min(8, 2 * (os.cpu_count() or 1))
    if len(items) <= 1 or workers == 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="diff") as pool:
        return list(pool.map(fn, items))


def diff_range(
    repo,
    base: str,
    head: str,
    sops: Sops,
    *,
    only: Iterable[str] | None = None,
    fleet_at: Callable[[str], Path] | None = None,
    workers: int | None = None,
) -> FleetDiff:
    """Plan base..head (hub_ops.fleet.planner, as a deploy would) and diff each release.

    repo: a hub_ops.clients.git.GitRepo. fleet_at(sha) gives the fleet folder at a commit
    (a FleetRemote's cached exports); by default each commit is exported to a temporary
    folder, removed afterwards.
    """
    base_sha, head_sha = repo.resolve(base), repo.resolve(head)
    with tempfile.TemporaryDirectory(prefix="hub-ops-diff-") as tmp:
        export = fleet_at or (lambda sha: repo.export(sha, Path(tmp) / sha))
        head_root = export(head_sha)
        base_root = head_root if base_sha == head_sha else export(base_sha)
        plan = plan_range(
            load_fleet(head_root, check_files=False),
            repo.changed_paths(base_sha, head_sha),
            lambda p: repo.show(base_sha, p),
        )
        return plan_preview(base_root, head_root, plan, sops, base=base_sha, head=head_sha, only=only, workers=workers)


# ------------------------------------------------------------------ head vs live


def all_releases(fleet: Fleet) -> list[tuple[str, str, list[str]]]:
    out = [(name, "support", []) for name, c in fleet.clusters.items() if c.support]
    out += [(h.id, h.effective_tier, []) for h in fleet.hubs()]
    return out


def diff_live(
    head_root: Path,
    entries: list[tuple[str, str, list[str]]],
    sops: Sops,
    cluster_view: Callable[[Fleet, str], LiveCluster],
    *,
    head: str = "head",
    workers: int | None = None,
) -> FleetDiff:
    """Head's render of each release against what its cluster runs (drift).

    cluster_view(fleet, cluster) reaches a cluster or raises ClusterUnreachable; releases
    of a cluster that cannot be reached are reported "not compared", the others go on.
    Only reads from the clusters.
    """
    renderer = FleetRenderer(Path(head_root), DecryptCache(sops), {})
    views: dict[str, LiveCluster | str] = {}
    lock = threading.Lock()

    def view(cluster: str) -> LiveCluster | str:
        with lock:
            if cluster not in views:
                try:
                    views[cluster] = cluster_view(renderer.fleet, cluster)
                except ClusterUnreachable as e:
                    views[cluster] = f"cluster unreachable: {e}"
            return views[cluster]

    def one(entry) -> ReleaseDiff:
        rid, step, reasons = entry
        out = ReleaseDiff(rid, step, list(reasons))
        release = renderer.release(rid)
        if release is None:
            out.error = "not in the fleet config at head"
            return out
        try:
            rendered = renderer.render(release)
        except (HelmFailure, ValueError, OSError) as e:
            out.error = Masker(_secrets_of(renderer, release)).text(f"head: {e}")
            return out
        cluster = view(release.cluster)
        if isinstance(cluster, str):
            out.error = Masker(rendered.secrets).text(cluster)
            return out
        try:
            live, secrets = _live_objects(cluster, release, rendered)
        except (ClusterUnreachable, HelmFailure) as e:
            out.error = Masker(rendered.secrets).text(f"live: {e}")
            return out
        masker = Masker(rendered.secrets | secrets)
        desired = {k: as_applied(d) for k, d in rendered.objects.items()}
        out.objects = diff_objects(live, desired, masker, ("live", "head"))
        out.flags = _masked_flags(risk_flags(live, desired), masker)
        return out

    try:
        results = _map(one, entries, workers)
    finally:
        renderer.close()
        for v in views.values():
            if not isinstance(v, str):
                v.close()
    return FleetDiff("live", head, results)


def _live_objects(
    cluster: LiveCluster, release: Release, rendered: Rendered
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Live objects of the release projected onto head's (or, for objects head no longer
    renders, onto helm's stored manifest), and the live values at the sops files' paths
    (a secret rotated at head is still the old one live: mask that one too)."""
    manifest = cluster.manifest(release.name, release.namespace)
    owned = {object_key(d, release.namespace): d for d in documents([manifest])} if manifest else {}
    values = cluster.values(release.name, release.namespace) if manifest else {}
    secrets = {s for p in rendered.secret_paths for s in secret_strings(_at(values, p))}
    live: dict[str, dict[str, Any]] = {}
    for key in sorted(set(rendered.objects) | set(owned)):
        shape = as_applied(rendered.objects.get(key) or owned[key])
        kind, namespace, name = key.split("/", 2)
        obj = cluster.get(shape.get("apiVersion", "v1"), kind, namespace, name)
        if obj is not None:
            live[key] = pruned(project(shape, obj))
    return live, secrets
