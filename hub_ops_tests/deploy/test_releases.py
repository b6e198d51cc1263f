"""Release specs from the fleet, and charts prepared with their file:// dependencies."""

import pytest

from hub_ops.clients.helm import render_chart
from hub_ops.deploy.releases import PreparedCharts, hub_release, release_for_id, support_release
from hub_ops.fleet import load_fleet


def test_hub_and_support_releases(example_fleet):
    fleet = load_fleet(example_fleet)
    uni = hub_release(fleet, fleet.hub("community-hubs/uni"))
    assert (uni.name, uni.namespace, uni.chart, uni.id, uni.partition_key) == (
        "uni",
        "uni-teaching",
        "basehub",
        "community-hubs/uni",
        "community-hubs.uni",
    )
    assert [p.name for p in uni.values_files] == ["common.values.yaml", "uni.values.yaml", "enc-uni.secret.values.yaml"]
    support = support_release(fleet, "pangeo-hubs")
    assert (support.name, support.namespace, support.chart, support.id, support.is_support) == (
        "support",
        "support",
        "support",
        "pangeo-hubs",
        True,
    )
    assert release_for_id(fleet, "pangeo-hubs") == support
    with pytest.raises(KeyError, match="no cluster 'nope'"):
        release_for_id(fleet, "nope")


def test_prepared_daskhub_includes_basehub_and_leaves_the_fleet_clean(example_fleet):
    fleet = load_fleet(example_fleet)
    release = hub_release(fleet, fleet.hub("pangeo-hubs/prod"))
    with PreparedCharts(fleet) as charts:
        path = charts.path(release)
        assert (path / "charts" / "basehub-0.1.0.tgz").is_file()
        values = {"basehub": {"jupyterhub": {"hub": {"services": {"hub-ops": {"apiToken": "t"}}}}}}
        rendered = render_chart(path, "prod", "prod", values)
        assert "daskhub/charts/basehub/templates/hub-deployment.yaml" in rendered
        assert "daskhub/templates/dask-gateway.yaml" in rendered
    assert not (example_fleet / "charts" / "daskhub" / "charts").exists()
    assert not path.exists()


def test_chart_override_replaces_chart_yaml(example_fleet):
    cluster_dir = example_fleet / "clusters" / "community-hubs"
    (cluster_dir / "uni-chart.yaml").write_text(
        (example_fleet / "charts" / "basehub" / "Chart.yaml")
        .read_text()
        .replace('version: "0.1.0"', 'version: "0.1.0-uni"')
    )
    text = (cluster_dir / "cluster.yaml").read_text()
    (cluster_dir / "cluster.yaml").write_text(
        text.replace("  namespace: uni-teaching\n", "  namespace: uni-teaching\n  chart_override: uni-chart.yaml\n")
    )
    fleet = load_fleet(example_fleet)
    with PreparedCharts(fleet) as charts:
        path = charts.path(hub_release(fleet, fleet.hub("community-hubs/uni")))
        assert 'version: "0.1.0-uni"' in (path / "Chart.yaml").read_text()
        other = charts.path(hub_release(fleet, fleet.hub("community-hubs/ohw")))
        assert 'version: "0.1.0"' in (other / "Chart.yaml").read_text()


def test_prepared_charts_are_safe_to_share_between_threads(example_fleet):
    from concurrent.futures import ThreadPoolExecutor

    fleet = load_fleet(example_fleet)
    releases = [hub_release(fleet, h) for h in fleet.hubs()] * 3
    with PreparedCharts(fleet) as charts, ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(charts.path, releases))
    assert len(set(paths)) == 2  # one prepared copy per chart: basehub, daskhub
