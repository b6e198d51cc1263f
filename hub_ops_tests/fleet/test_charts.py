"""Charts of the charts folder and who includes whom through file:// dependencies."""

from __future__ import annotations

from pathlib import Path

from hub_ops.fleet import load_fleet
from hub_ops.fleet.charts import Chart, dependents_closure, indexed_local_dependencies, local_dependencies
from hub_ops_tests.fleet_helpers import write


def test_local_dependencies_only_sibling_file_charts(tmp_path: Path):
    charts = tmp_path / "charts"
    doc = {
        "dependencies": [
            {"name": "jupyterhub", "repository": "https://jupyterhub.github.io/helm-chart/"},
            {"name": "basehub", "repository": "file://../basehub"},
            "not-a-mapping",
            {"name": "nested", "repository": "file://./sub/chart"},  # inside the chart, not a sibling
            {"name": "gone", "repository": "file://../../elsewhere/x"},  # outside the charts folder
            {"name": "oci", "repository": "oci://ghcr.io/x"},
            {"name": "other", "repository": "file://../other/"},
        ]
    }
    assert indexed_local_dependencies(doc, charts / "daskhub", charts) == [(1, "basehub"), (6, "other")]
    assert local_dependencies(doc, charts / "daskhub", charts) == ["basehub", "other"]
    assert local_dependencies({"dependencies": None}, charts / "x", charts) == []
    assert local_dependencies({"dependencies": {"a": 1}}, charts / "x", charts) == []


def test_dependents_closure_follows_chains_and_ignores_cycles():
    charts = {
        "base": Chart("base", Path("base"), "1"),
        "mid": Chart("mid", Path("mid"), "1", ("base",)),
        "top": Chart("top", Path("top"), "1", ("mid",)),
        "other": Chart("other", Path("other"), "1"),
        "a": Chart("a", Path("a"), "1", ("b",)),
        "b": Chart("b", Path("b"), "1", ("a",)),
    }
    used_by = dependents_closure(charts)
    assert used_by["base"] == {"base", "mid", "top"}
    assert used_by["mid"] == {"mid", "top"}
    assert used_by["top"] == {"top"}
    assert used_by["other"] == {"other"}
    assert used_by["a"] == used_by["b"] == {"a", "b"}


def test_fleet_charts_of_both_layouts(two_i_two_c_root: Path, example_fleet: Path):
    for root in (two_i_two_c_root, example_fleet):
        fleet = load_fleet(root)
        assert fleet.charts_using("basehub") == {"basehub", "daskhub"}
        assert fleet.charts_using("daskhub") == {"daskhub"}
        assert fleet.charts_using("support") == {"support"}
        assert fleet.charts_using("unknown") == {"unknown"}
        assert fleet.charts["basehub"].version == "0.1.0"


def test_a_three_level_chain_in_a_fleet(example_fleet: Path):
    write(
        example_fleet,
        "charts/gpuhub/Chart.yaml",
        "apiVersion: v2\nname: gpuhub\nversion: 0.1.0\ndependencies:\n- name: daskhub\n  version: 0.1.0\n  repository: file://../daskhub\n",
    )
    fleet = load_fleet(example_fleet)
    assert fleet.charts["gpuhub"].local_dependencies == ("daskhub",)
    assert fleet.charts_using("basehub") == {"basehub", "daskhub", "gpuhub"}


def test_a_folder_without_chart_yaml_is_not_a_chart(example_fleet: Path):
    write(example_fleet, "charts/images/hub/Dockerfile", "FROM scratch\n")
    assert "images" not in load_fleet(example_fleet).charts
