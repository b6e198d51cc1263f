"""What a release is: a chart, a name, a namespace and layered values files."""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from hub_ops.fleet.loader import Fleet
from hub_ops.fleet.models import Hub

SUPPORT_RELEASE = "support"  # as 2i2c names it: release `support` in namespace `support`


@dataclass(frozen=True)
class Release:
    cluster: str
    name: str  # helm release name: the hub's name, or "support"
    namespace: str
    chart: str  # a chart folder of the fleet's charts folder
    values_files: tuple[Path, ...]
    hub: str | None = None  # hub name; None for the support release
    chart_override: Path | None = None  # a Chart.yaml replacing the chart's own

    @property
    def id(self) -> str:
        """`cluster/hub` for a hub, `cluster` for a support release (as in plans)."""
        return f"{self.cluster}/{self.hub}" if self.hub else self.cluster

    @property
    def partition_key(self) -> str | None:
        return f"{self.cluster}.{self.hub}" if self.hub else None

    @property
    def is_support(self) -> bool:
        return self.hub is None


def hub_release(fleet: Fleet, hub: Hub) -> Release:
    override = fleet.cluster_dir(hub.cluster) / hub.chart_override if hub.chart_override else None
    return Release(
        hub.cluster,
        hub.name,
        hub.effective_namespace,
        hub.helm_chart,
        tuple(fleet.values_paths(hub)),
        hub.name,
        override,
    )


def support_release(fleet: Fleet, cluster_name: str) -> Release:
    cluster = fleet.clusters[cluster_name]
    chart = cluster.support.helm_chart if cluster.support else "support"
    namespace = cluster.support.namespace if cluster.support else SUPPORT_RELEASE
    return Release(cluster_name, SUPPORT_RELEASE, namespace, chart, tuple(fleet.support_values_paths(cluster)))


def release_for_id(fleet: Fleet, release_id: str) -> Release:
    """`cluster/hub` -> the hub's release; `cluster` -> its support release."""
    if "/" in release_id:
        return hub_release(fleet, fleet.hub(release_id))
    if release_id not in fleet.clusters:
        raise KeyError(f"no cluster {release_id!r} in the fleet")
    return support_release(fleet, release_id)


class PreparedCharts:
    """A private copy of the fleet's charts with `file://` dependencies built.

    Helm needs a chart's dependencies packaged under its charts/ folder; building them in
    the fleet checkout would dirty it, so each run works on its own copy. Use as a context
    manager; the copy is removed on exit.
    """

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self._tmp = Path(tempfile.mkdtemp(prefix="hub-ops-charts-"))
        self._ready: dict[tuple[str, str | None], Path] = {}
        self._lock = threading.Lock()  # hubs of one step deploy in parallel threads

    def __enter__(self) -> PreparedCharts:
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def path(self, release: Release) -> Path:
        """The chart folder to install `release` from, dependencies built."""
        key = (release.chart, str(release.chart_override) if release.chart_override else None)
        with self._lock:
            if key not in self._ready:
                self._ready[key] = self._prepare(release)
            return self._ready[key]

    def _prepare(self, release: Release) -> Path:
        import helm_python

        charts = self._tmp / f"set-{len(self._ready)}"
        if not charts.exists():
            shutil.copytree(self.fleet.charts_dir, charts, ignore=shutil.ignore_patterns("charts", "*.tgz"))
        target = charts / release.chart
        if not target.is_dir():
            raise FileNotFoundError(f"chart {release.chart!r} not found in {self.fleet.relpath(self.fleet.charts_dir)}")
        if release.chart_override:
            shutil.copy(release.chart_override, target / "Chart.yaml")
        for name in self._build_order(release.chart):
            helm_python.dependency_build(charts / name)
        return target

    def _build_order(self, chart: str) -> list[str]:
        """The chart's local dependency chain, dependencies first."""
        order: list[str] = []

        def visit(name: str) -> None:
            for dep in self.fleet.charts[name].local_dependencies if name in self.fleet.charts else ():
                visit(dep)
            if name not in order:
                order.append(name)

        visit(chart)
        return order
