"""Load and validate a fleet from its root folder.

Two layouts are recognised: hub_ops's own (a `fleet.yaml` at the root naming the clusters
and charts folders) and 2i2c-org/infrastructure's (`config/clusters/`, `helm-charts/`, no
fleet.yaml), which loads as it is.

Every problem is collected before raising, so one run of `hub-ops validate` lists them all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub_ops.fleet.charts import Chart, dependents_closure, indexed_local_dependencies
from hub_ops.fleet.errors import ConfigProblem, FleetConfigError
from hub_ops.fleet.models import Cluster, FleetSettings, Hub
from hub_ops.fleet.yamlfiles import Loc, format_loc, line_of, load_data_file, yaml_error_line, yaml_error_text

FLEET_FILE = "fleet.yaml"
CLUSTER_FILE = "cluster.yaml"
TWO_I_TWO_C = FleetSettings(clusters_dir="config/clusters", charts_dir="helm-charts")


def is_secret_name(filename: str) -> bool:
    """2i2c's convention: `enc-*.secret.*` files are sops-encrypted."""
    return "secret" in os.path.basename(filename)


@dataclass
class Fleet:
    root: Path
    settings: FleetSettings
    clusters: dict[str, Cluster]  # by name, sorted
    charts: dict[str, Chart]
    layout: str  # "hub_ops" | "2i2c"
    _used_by: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @property
    def clusters_dir(self) -> Path:
        return self.root / self.settings.clusters_dir

    @property
    def charts_dir(self) -> Path:
        return self.root / self.settings.charts_dir

    def cluster_dir(self, cluster: str) -> Path:
        return self.clusters_dir / cluster

    def hubs(self) -> Iterator[Hub]:
        for cluster in self.clusters.values():
            yield from cluster.hubs

    def hub(self, hub_id: str) -> Hub:
        """A hub by `<cluster>/<hub>` (or the partition form `<cluster>.<hub>`)."""
        cluster_name, sep, hub_name = hub_id.partition("/" if "/" in hub_id else ".")
        cluster = self.clusters.get(cluster_name)
        hub = cluster.hub(hub_name) if cluster and sep else None
        if hub is None:
            known = ", ".join(h.id for h in self.hubs() if h.name == hub_name or h.cluster == cluster_name)
            raise KeyError(
                f"no hub {hub_id!r} in the fleet at {self.root}" + (f" (did you mean: {known})" if known else "")
            )
        return hub

    def values_paths(self, hub: Hub) -> list[Path]:
        folder = self.cluster_dir(hub.cluster)
        return [folder / name for name in hub.helm_chart_values_files]

    def support_values_paths(self, cluster: Cluster) -> list[Path]:
        folder = self.cluster_dir(cluster.name)
        return [folder / name for name in (cluster.support.helm_chart_values_files if cluster.support else [])]

    def charts_using(self, chart: str) -> frozenset[str]:
        """Charts that are `chart` or include it through file:// dependencies."""
        return self._used_by.get(chart, frozenset({chart}))

    def relpath(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


def find_layout(root: Path) -> tuple[str, Path | None]:
    if (root / FLEET_FILE).is_file():
        return "hub_ops", root / FLEET_FILE
    if (root / "config" / "clusters").is_dir():
        return "2i2c", None
    raise FleetConfigError(
        [ConfigProblem(str(root), None, "", f"not a fleet: no {FLEET_FILE} and no config/clusters/ folder")]
    )


class _Collector:
    def __init__(self, root: Path):
        self.root = root
        self.problems: list[ConfigProblem] = []

    def rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def add(self, path: Path, loc: Loc, message: str, line: int | None = None) -> None:
        if line is None and loc:
            line = line_of(path, loc)
        self.problems.append(ConfigProblem(self.rel(path), line, format_loc(loc), message))

    def add_validation(self, path: Path, err: ValidationError, prefix: Loc = ()) -> None:
        for e in err.errors():
            loc = prefix + tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            key = getattr((e.get("ctx") or {}).get("error"), "key", None)  # models.KeyedValueError
            self.add(path, loc + (key,) if key else loc, _message(e))

    def parse(self, path: Path, referenced_by: tuple[Path, Loc, str] | None = None) -> tuple[bool, Any]:
        """Parse a YAML/JSON file; on failure record why. Returns (ok, data).

        referenced_by: (file, key, name as written) that lists `path`: a missing file or a
        folder is reported there, where a person fixes it.
        """
        try:
            return True, load_data_file(path)
        except (FileNotFoundError, IsADirectoryError) as e:
            what = "file not found" if isinstance(e, FileNotFoundError) else "is a folder, expected a file"
            if referenced_by:
                owner, loc, name = referenced_by
                self.add(owner, loc, f"{what}: {name}")
            else:
                self.add(path, (), what)
        except yaml.YAMLError as e:
            self.add(path, (), yaml_error_text(e), line=yaml_error_line(e))
        except ValueError as e:  # json
            self.add(path, (), f"invalid JSON: {e}", line=getattr(e, "lineno", None))
        return False, None


def _message(e: dict) -> str:
    kind = e["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):  # not "instance of Hub"
        return f"expected a mapping (got {e['input']!r})"
    msg = e["msg"]
    if kind == "string_pattern_mismatch":
        return f"{e['input']!r} is not a valid name (lowercase letters, digits and '-', as a DNS label)"
    if kind.startswith("value_error"):
        msg = msg.removeprefix("Value error, ")
    if kind == "literal_error" or kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{msg} (got {e['input']!r})"
    return msg


def load_fleet(root: str | os.PathLike, *, check_files: bool = True) -> Fleet:
    """Load the fleet at `root`, validating every cluster and every hub.

    check_files: also check that every referenced file exists and parses, and that secret
    files are sops-encrypted (slower: reads every values file). Planning skips it.
    Raises FleetConfigError with every problem found. Never writes anything.
    """
    fleet, problems = _load(Path(root).resolve(), check_files)
    if problems:
        raise FleetConfigError(problems)
    return fleet


def validate_fleet(root: str | os.PathLike) -> tuple[Fleet | None, list[ConfigProblem]]:
    """Like load_fleet with every check, returning the problems instead of raising."""
    try:
        return _load(Path(root).resolve(), True)
    except FleetConfigError as e:
        return None, e.problems


def load_settings(root: str | os.PathLike) -> FleetSettings:
    """fleet.yaml alone (the 2i2c layout's defaults without one): enough to find the git
    remote even while a cluster file is broken. Raises FleetConfigError."""
    root = Path(root).resolve()
    return _settings(root, _Collector(root))


def _settings(root: Path, c: _Collector) -> FleetSettings:
    layout, fleet_file = find_layout(root)
    settings = TWO_I_TWO_C
    if fleet_file is not None:
        ok, doc = c.parse(fleet_file)
        if ok and not isinstance(doc, (dict, type(None))):
            c.add(fleet_file, (), "expected a mapping at the top of the file")
            raise FleetConfigError(c.problems)
        if ok:
            try:
                settings = FleetSettings.model_validate(doc or {})
            except ValidationError as e:
                c.add_validation(fleet_file, e)
                raise FleetConfigError(c.problems) from None
        else:
            raise FleetConfigError(c.problems)
    return settings


def _load(root: Path, check_files: bool) -> tuple[Fleet, list[ConfigProblem]]:
    layout, fleet_file = find_layout(root)
    c = _Collector(root)
    settings = _settings(root, c)

    charts_dir = root / settings.charts_dir
    if not charts_dir.is_dir():  # else chart checks and chart planning would silently do nothing
        c.add(fleet_file or root, ("charts_dir",) if fleet_file else (), f"folder not found: {settings.charts_dir}")
    charts = _load_charts(charts_dir, c)
    clusters_dir = root / settings.clusters_dir
    if not clusters_dir.is_dir():
        c.add(fleet_file or root, ("clusters_dir",), f"folder not found: {settings.clusters_dir}")
        raise FleetConfigError(c.problems)

    clusters: dict[str, Cluster] = {}
    for folder in sorted(p for p in clusters_dir.iterdir() if p.is_dir()):
        path = folder / CLUSTER_FILE
        if not path.is_file():
            continue  # e.g. 2i2c's templates/ folder: templates, not a cluster
        cluster, doc = _load_cluster(path, c)
        if check_files and doc is not None:  # also when the schema failed: report every problem at once
            _check_files(doc, path, c)
        if cluster is None:
            continue
        _check_cluster(cluster, path, charts, c)
        clusters[cluster.name] = cluster

    if check_files and fleet_file is not None:
        _check_alert_secrets(root, fleet_file, settings, c)
    fleet = Fleet(root, settings, clusters, charts, layout, dependents_closure(charts))
    _check_fleet(fleet, c)
    return fleet, c.problems


def _load_charts(charts_dir: Path, c: _Collector) -> dict[str, Chart]:
    charts: dict[str, Chart] = {}
    if not charts_dir.is_dir():
        return charts
    for folder in sorted(p for p in charts_dir.iterdir() if p.is_dir()):
        chart_file = folder / "Chart.yaml"
        if not chart_file.is_file():
            continue
        ok, doc = c.parse(chart_file)
        if ok and not isinstance(doc, dict):
            c.add(chart_file, (), "expected a mapping at the top of the file")
        if not ok or not isinstance(doc, dict):  # reported; still a chart, so hubs using it are not "unknown chart"
            charts[folder.name] = Chart(folder.name, folder, "")
            continue
        listed = doc.get("dependencies")
        if listed is not None and not isinstance(listed, list):
            c.add(chart_file, ("dependencies",), f"expected a list, got {type(listed).__name__}")
        for i, dep in enumerate(listed if isinstance(listed, list) else []):
            if not isinstance(dep, dict):
                c.add(chart_file, ("dependencies", i), f"expected a mapping, got {type(dep).__name__}")
        deps = indexed_local_dependencies(doc, folder, charts_dir)
        for i, dep in deps:
            if not (charts_dir / dep / "Chart.yaml").is_file():
                c.add(chart_file, ("dependencies", i, "repository"), f"file:// dependency not found: {dep}")
        charts[folder.name] = Chart(folder.name, folder, str(doc.get("version", "")), tuple(name for _, name in deps))
    return charts


def _load_cluster(path: Path, c: _Collector) -> tuple[Cluster | None, dict | None]:
    """(the validated cluster or None, the parsed document or None)."""
    ok, doc = c.parse(path)
    if not ok:
        return None, None
    if not isinstance(doc, dict):
        c.add(path, (), "expected a mapping at the top of the file")
        return None, None
    try:
        return Cluster.model_validate(doc), doc
    except ValidationError as e:
        c.add_validation(path, e)
        return None, doc


def _check_cluster(cluster: Cluster, path: Path, charts: dict[str, Chart], c: _Collector) -> None:
    folder = path.parent
    if cluster.name != folder.name:
        c.add(path, ("name",), f"{cluster.name!r} must equal the folder name {folder.name!r}")
    seen: dict[str, int] = {}
    namespaces: dict[str, int] = {}
    for i, hub in enumerate(cluster.hubs):
        if hub.name in seen:
            c.add(path, ("hubs", i, "name"), f"duplicate hub name {hub.name!r} (also hubs[{seen[hub.name]}])")
        seen.setdefault(hub.name, i)
        ns = hub.effective_namespace
        if ns in namespaces and namespaces[ns] != seen.get(hub.name, i):
            c.add(path, ("hubs", i, "namespace"), f"namespace {ns!r} already used by hubs[{namespaces[ns]}]")
        namespaces.setdefault(ns, i)
        if charts and hub.helm_chart not in charts:
            c.add(
                path,
                ("hubs", i, "helm_chart"),
                f"unknown chart {hub.helm_chart!r} (charts: {', '.join(sorted(charts))})",
            )
        d = hub.decommission
        if d and d.successor:
            succ_cluster, _, succ_name = d.successor.rpartition("/")
            if (succ_cluster or cluster.name) == cluster.name and succ_name == hub.name:
                c.add(path, ("hubs", i, "decommission", "successor"), "a hub cannot be its own successor")
            elif not succ_cluster and cluster.hub(succ_name) is None:
                c.add(path, ("hubs", i, "decommission", "successor"), f"no hub {succ_name!r} in this cluster")
    if cluster.support and charts and cluster.support.helm_chart not in charts:
        c.add(path, ("support", "helm_chart"), f"unknown chart {cluster.support.helm_chart!r}")


def _check_files(doc: dict, path: Path, c: _Collector) -> None:
    """Every file a cluster.yaml names exists, parses, and is encrypted when named a secret.

    Works on the parsed document (not the model) so it runs even when the schema failed;
    entries of the wrong type are left to the schema's own errors.
    """
    folder = path.parent

    def names(block: Any, key: str) -> list[tuple[int, str]]:
        listed = block.get(key) if isinstance(block, dict) else None
        return [(j, n) for j, n in enumerate(listed) if isinstance(n, str)] if isinstance(listed, list) else []

    for j, name in names(doc.get("support"), "helm_chart_values_files"):
        _check_values_file(folder, name, path, ("support", "helm_chart_values_files", j), c)
    hubs = doc.get("hubs")
    for i, hub in enumerate(hubs if isinstance(hubs, list) else []):
        for j, name in names(hub, "helm_chart_values_files"):
            _check_values_file(folder, name, path, ("hubs", i, "helm_chart_values_files", j), c)
        if isinstance(hub, dict) and isinstance(hub.get("chart_override"), str):
            _check_referenced_file(folder, hub["chart_override"], path, ("hubs", i, "chart_override"), c)
    for provider, key in (("gcp", "key"), ("aws", "key"), ("azure", "key"), ("kubeconfig", "file")):
        block = doc.get(provider)
        if isinstance(block, dict) and isinstance(block.get(key), str) and block[key]:
            _check_referenced_file(folder, block[key], path, (provider, key), c)


def _check_referenced_file(folder: Path, name: str, owner: Path, loc: Loc, c: _Collector) -> Any:
    """The parsed file `name` (inside `folder`), or None with the problem recorded at `loc`."""
    target = folder / name
    if not name.strip():
        c.add(owner, loc, "empty file name")
        return None
    if os.path.isabs(name) or ".." in Path(name).parts:
        c.add(owner, loc, f"must be a file inside the cluster folder: {name}")
        return None
    ok, doc = c.parse(target, referenced_by=(owner, loc, name))
    if ok and is_secret_name(name) and not (isinstance(doc, dict) and "sops" in doc):
        c.add(
            owner,
            loc,
            f"{name} is named as a secret but has no sops block: refusing a possibly leaked plaintext secret",
        )
    return doc if ok else None


def _check_values_file(folder: Path, name: str, owner: Path, loc: Loc, c: _Collector) -> None:
    doc = _check_referenced_file(folder, name, owner, loc, c)
    if doc is not None and not isinstance(doc, dict):
        c.add(folder / name, (), f"helm values must be a mapping, got {type(doc).__name__}")


def _check_fleet(fleet: Fleet, c: _Collector) -> None:
    for cluster in fleet.clusters.values():
        path = fleet.cluster_dir(cluster.name) / CLUSTER_FILE
        for i, hub in enumerate(cluster.hubs):
            d = hub.decommission
            if d and d.successor and "/" in d.successor:
                try:
                    fleet.hub(d.successor)
                except KeyError:
                    c.add(path, ("hubs", i, "decommission", "successor"), f"no hub {d.successor!r} in the fleet")


def _check_alert_secrets(root: Path, fleet_file: Path, settings: FleetSettings, c: _Collector) -> None:
    """Each `file#key` of the alerts routes names a sops file next to fleet.yaml that holds
    the key. sops leaves key names in plaintext, so this needs no decryption."""
    for i, route in enumerate(settings.alerts.routes):
        for where, ref in route.secret_refs():
            loc = ("alerts", "routes", i, *where)
            name, _, key = ref.partition("#")
            if os.path.isabs(name) or ".." in Path(name).parts:
                c.add(fleet_file, loc, f"must be a file inside the fleet folder: {name}")
                continue
            doc = _check_referenced_file(root, name, fleet_file, loc, c)
            if doc is None:
                continue
            if not is_secret_name(name):
                c.add(fleet_file, loc, f"{name} must be a sops-encrypted secret file (its name contains 'secret')")
            elif isinstance(doc, dict) and "sops" in doc and not _has_key(doc, key):
                c.add(fleet_file, loc, f"no key {key!r} in {name}")


def _has_key(doc: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return False
        doc = doc[part]
    return True
