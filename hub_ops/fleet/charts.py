"""Charts of the fleet's charts folder, and their `file://` dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Chart:
    name: str  # the folder name under the charts folder
    path: Path
    version: str
    local_dependencies: tuple[str, ...] = field(default=())  # chart folders named by file://


def local_dependencies(chart_doc: dict, chart_dir: Path, charts_dir: Path) -> list[str]:
    """Names of sibling charts this Chart.yaml depends on through `file://` repositories."""
    return [name for _, name in indexed_local_dependencies(chart_doc, chart_dir, charts_dir)]


def indexed_local_dependencies(chart_doc: dict, chart_dir: Path, charts_dir: Path) -> list[tuple[int, str]]:
    """(index in `dependencies`, sibling chart name) of each `file://` dependency.

    Entries that are not mappings are skipped here (the loader reports them).
    """
    deps = chart_doc.get("dependencies")
    out = []
    for i, dep in enumerate(deps if isinstance(deps, list) else []):
        repo = str(dep.get("repository") or "") if isinstance(dep, dict) else ""
        if repo.startswith("file://"):
            target = (chart_dir / repo[len("file://") :]).resolve()
            if target.parent == charts_dir.resolve():
                out.append((i, target.name))
    return out


def dependents_closure(charts: dict[str, Chart]) -> dict[str, frozenset[str]]:
    """For each chart, every chart that includes it (itself too), through file:// deps."""
    used_by: dict[str, set[str]] = {name: {name} for name in charts}
    changed = True
    while changed:  # a handful of charts: a fixed point beats a graph library
        changed = False
        for name, chart in charts.items():
            for dep in chart.local_dependencies:
                before = len(used_by.setdefault(dep, {dep}))
                used_by[dep] |= used_by[name]
                changed |= len(used_by[dep]) != before
    return {name: frozenset(v) for name, v in used_by.items()}
