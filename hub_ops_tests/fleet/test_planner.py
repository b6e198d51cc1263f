"""The planner's rules one by one, on the example fleet and on the real 2i2c fleet.

Expected plans on the 2i2c fleet are derived from the raw cluster.yaml files (PyYAML, not
the loader), so the planner is checked against an independent reading of the fleet.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from hub_ops.fleet import load_fleet
from hub_ops.fleet.planner import ChangedPath, Plan, plan_changes
from hub_ops_tests.conftest import EXAMPLE_FLEET, TWO_I_TWO_C
from hub_ops_tests.fleet_helpers import replace, write

EXAMPLE_HUBS = [
    "community-hubs/staging",
    "community-hubs/ohw",
    "community-hubs/climatematch",
    "community-hubs/uni",
    "local-demo/staging",
    "local-demo/workshop",
    "pangeo-hubs/staging",
    "pangeo-hubs/prod",
    "pangeo-hubs/legacy",
]


@pytest.fixture(scope="module")
def example():
    return load_fleet(EXAMPLE_FLEET, check_files=False)


@pytest.fixture(scope="module")
def fixture():
    return load_fleet(TWO_I_TWO_C, check_files=False)


def raw_hubs(root: Path, clusters_dir: str) -> list[dict]:
    """Every hub of a fleet read with plain PyYAML, in plan order (cluster name, list order)."""
    out = []
    for path in sorted((root / clusters_dir).glob("*/cluster.yaml")):
        doc = yaml.safe_load(path.read_text())
        for hub in doc.get("hubs", []):
            tier = hub.get("tier") or ("staging" if "staging" in hub["name"] else "prod")
            out.append(
                {
                    "id": f"{doc['name']}/{hub['name']}",
                    "cluster": doc["name"],
                    "chart": hub["helm_chart"],
                    "tier": tier,
                    "files": hub.get("helm_chart_values_files", []),
                }
            )
    return out


def split(hubs: list[dict]) -> tuple[list[str], list[str]]:
    return [h["id"] for h in hubs if h["tier"] == "staging"], [h["id"] for h in hubs if h["tier"] == "prod"]


# ---------------------------------------------------------------- example fleet, rule by rule


def test_hub_values_file_plans_that_hub_with_its_staging_canary(example):
    plan = plan_changes(example, ["clusters/pangeo-hubs/prod.values.yaml"])
    assert plan.to_dict() == {
        "support": [],
        "staging": ["pangeo-hubs/staging"],
        "prod": ["pangeo-hubs/prod"],
        "removed": [],
        "skipped": [],
        "ignored": [],
        "reasons": {
            "pangeo-hubs/staging": ["staging canary for pangeo-hubs/prod"],
            "pangeo-hubs/prod": ["clusters/pangeo-hubs/prod.values.yaml changed"],
        },
    }


def test_staging_values_file_plans_only_staging(example):
    plan = plan_changes(example, ["clusters/pangeo-hubs/staging.values.yaml"])
    assert (plan.support, plan.staging, plan.prod) == ([], ["pangeo-hubs/staging"], [])


def test_secret_values_file_plans_its_hub(example):
    plan = plan_changes(example, ["clusters/community-hubs/enc-uni.secret.values.yaml"])
    assert (plan.staging, plan.prod) == (["community-hubs/staging"], ["community-hubs/uni"])
    assert plan.reasons["community-hubs/uni"] == ["clusters/community-hubs/enc-uni.secret.values.yaml changed"]


def test_shared_values_file_plans_every_hub_listing_it(example):
    plan = plan_changes(example, ["clusters/community-hubs/common.values.yaml"])
    assert plan.staging == ["community-hubs/staging"]
    assert plan.prod == ["community-hubs/ohw", "community-hubs/climatematch", "community-hubs/uni"]
    assert plan.support == []
    assert {k: v for k, v in plan.reasons.items()} == {
        h: ["clusters/community-hubs/common.values.yaml changed"]
        for h in ["community-hubs/staging", "community-hubs/ohw", "community-hubs/climatematch", "community-hubs/uni"]
    }


def test_support_values_file_plans_that_support_release(example):
    for name in ("support.values.yaml", "enc-support.secret.values.yaml"):
        plan = plan_changes(example, [f"clusters/pangeo-hubs/{name}"])
        assert (plan.support, plan.hub_ids()) == (["pangeo-hubs"], [])
        assert plan.reasons == {"pangeo-hubs": [f"clusters/pangeo-hubs/{name} changed"]}


def test_cluster_yaml_without_a_range_plans_the_whole_cluster(example):
    plan = plan_changes(example, ["clusters/pangeo-hubs/cluster.yaml"])
    assert plan.support == ["pangeo-hubs"]
    assert plan.staging == ["pangeo-hubs/staging"]
    assert plan.prod == ["pangeo-hubs/prod", "pangeo-hubs/legacy"]
    assert all(r == ["clusters/pangeo-hubs/cluster.yaml changed"] for r in plan.reasons.values())
    assert len(plan.reasons) == 4


def test_chart_change_plans_the_chart_and_charts_including_it(example):
    plan = plan_changes(example, ["charts/basehub/templates/hub-deployment.yaml"])
    assert plan.support == []
    assert plan.hub_ids() == [
        "community-hubs/staging",
        "local-demo/staging",
        "pangeo-hubs/staging",
        "community-hubs/ohw",
        "community-hubs/climatematch",
        "community-hubs/uni",
        "local-demo/workshop",
        "pangeo-hubs/prod",
        "pangeo-hubs/legacy",
    ]
    assert plan.reasons["pangeo-hubs/legacy"] == [
        "chart basehub changed (charts/basehub/templates/hub-deployment.yaml)"
    ]
    assert plan.reasons["pangeo-hubs/prod"] == [
        "chart daskhub includes basehub, changed (charts/basehub/templates/hub-deployment.yaml)"
    ]


def test_daskhub_only_change_leaves_basehub_hubs_alone(example):
    plan = plan_changes(example, ["charts/daskhub/values.yaml"])
    assert (plan.support, plan.staging, plan.prod) == ([], ["pangeo-hubs/staging"], ["pangeo-hubs/prod"])
    assert "pangeo-hubs/legacy" not in plan.hub_ids()  # basehub, same cluster


def test_support_chart_plans_every_support_release(example):
    plan = plan_changes(example, ["charts/support/templates/support.yaml"])
    assert (plan.support, plan.hub_ids()) == (["community-hubs", "local-demo", "pangeo-hubs"], [])


def test_deploy_all_on_glob_plans_everything(example_fleet: Path):
    replace(
        example_fleet,
        "fleet.yaml",
        "  - charts/support/values.schema.json\n",
        "  - charts/support/values.schema.json\n  - images/*/Dockerfile\n",
    )
    fleet = load_fleet(example_fleet, check_files=False)
    plan = plan_changes(fleet, ["images/hub/Dockerfile"])
    assert plan.support == ["community-hubs", "local-demo", "pangeo-hubs"]
    assert sorted(plan.hub_ids()) == sorted(EXAMPLE_HUBS)
    assert plan.reasons["local-demo/workshop"] == ["images/hub/Dockerfile changed (deploy_all_on: images/*/Dockerfile)"]
    assert plan_changes(fleet, ["images/Dockerfile"]).is_empty  # the glob's "*" needs a folder here
    assert plan_changes(fleet, ["charts/support/values.schema.json"]).hub_ids() == plan.hub_ids()


def test_staging_canary_comes_with_any_prod_hub(example):
    plan = plan_changes(
        example, ["clusters/community-hubs/ohw.values.yaml", "clusters/local-demo/workshop.values.yaml"]
    )
    assert plan.staging == ["community-hubs/staging", "local-demo/staging"]
    assert plan.prod == ["community-hubs/ohw", "local-demo/workshop"]
    assert plan.reasons["community-hubs/staging"] == ["staging canary for community-hubs/ohw"]
    # a cluster with no prod hub in the plan gets no canary
    assert plan_changes(example, ["clusters/community-hubs/staging.values.yaml"]).hub_ids() == [
        "community-hubs/staging"
    ]


def test_tier_given_overrides_the_name(example_fleet: Path):
    c = "clusters/community-hubs/cluster.yaml"
    replace(example_fleet, c, "  namespace: uni-teaching\n", "  namespace: uni-teaching\n  tier: staging\n")
    replace(
        example_fleet,
        c,
        "  display_name: Community hubs (staging)\n",
        "  display_name: Community hubs (staging)\n  tier: prod\n",
    )
    fleet = load_fleet(example_fleet, check_files=False)
    plan = plan_changes(fleet, ["clusters/community-hubs/common.values.yaml"])
    assert plan.staging == ["community-hubs/uni"]
    assert plan.prod == ["community-hubs/staging", "community-hubs/ohw", "community-hubs/climatematch"]
    canary = plan_changes(fleet, ["clusters/community-hubs/ohw.values.yaml"])
    assert (canary.staging, canary.prod) == (["community-hubs/uni"], ["community-hubs/ohw"])


def test_order_is_deterministic_whatever_the_input_order(example):
    paths = [
        "clusters/pangeo-hubs/prod.values.yaml",
        "clusters/local-demo/support.values.yaml",
        "clusters/community-hubs/uni.values.yaml",
        "charts/support/Chart.yaml",
        "clusters/community-hubs/enc-staging.secret.values.yaml",
        "clusters/pangeo-hubs/legacy.values.yaml",
        "README.md",
        "clusters/local-demo/staging.values.yaml",
    ]
    plans = []
    for seed in range(5):
        shuffled = paths[:]
        random.Random(seed).shuffle(shuffled)
        plans.append(plan_changes(example, shuffled))
    first = plans[0]
    assert first.support == ["community-hubs", "local-demo", "pangeo-hubs"]
    assert first.staging == ["community-hubs/staging", "local-demo/staging", "pangeo-hubs/staging"]
    assert first.prod == ["community-hubs/uni", "pangeo-hubs/prod", "pangeo-hubs/legacy"]
    for p in plans[1:]:
        assert (p.support, p.staging, p.prod) == (first.support, first.staging, first.prod)
        assert {k: sorted(v) for k, v in p.reasons.items()} == {k: sorted(v) for k, v in first.reasons.items()}
    assert list(first.reasons) == first.support + first.staging + first.prod


def test_paths_that_deploy_nothing_are_listed(example):
    paths = [
        "README.md",
        "fleet.yaml",
        "clusters/pangeo-hubs/enc-deployer-credentials.secret.json",
        "clusters/pangeo-hubs/notes.md",
        "clusters/nope/x.values.yaml",
        "charts/README.md",
        "demo.agekey",
    ]
    plan = plan_changes(example, paths)
    assert plan.is_empty
    assert plan.ignored == paths
    assert plan.rows() == []


def test_spelled_differently_same_path(example):
    plan = plan_changes(
        example, ["./clusters/pangeo-hubs/prod.values.yaml", "clusters//local-demo/./support.values.yaml"]
    )
    assert (plan.support, plan.prod, plan.ignored) == (["local-demo"], ["pangeo-hubs/prod"], [])


def test_folders_and_values_files_spelled_with_dots(example_fleet: Path):
    replace(example_fleet, "fleet.yaml", "clusters_dir: clusters", "clusters_dir: ./clusters/")
    replace(example_fleet, "clusters/local-demo/cluster.yaml", "  - workshop.values.yaml", "  - ./workshop.values.yaml")
    fleet = load_fleet(example_fleet)
    assert fleet.settings.clusters_dir == "clusters"
    plan = plan_changes(fleet, ["clusters/local-demo/workshop.values.yaml"])
    assert (plan.staging, plan.prod) == (["local-demo/staging"], ["local-demo/workshop"])


def test_skipped_hubs_are_reported_not_deployed(example):
    plan = plan_changes(
        example, ["charts/basehub/values.yaml"], skip={"pangeo-hubs/legacy": "decommissioned on 2026-12-14"}
    )
    assert "pangeo-hubs/legacy" not in plan.hub_ids()
    assert plan.skipped == ["pangeo-hubs/legacy"]
    assert plan.reasons["pangeo-hubs/legacy"] == ["skipped: decommissioned on 2026-12-14"]
    assert ("skipped", "pangeo-hubs/legacy", "skipped: decommissioned on 2026-12-14") in plan.rows()


def test_changed_path_objects_and_plain_strings_plan_alike(example):
    a = plan_changes(example, ["clusters/pangeo-hubs/prod.values.yaml"])
    b = plan_changes(example, [ChangedPath("clusters/pangeo-hubs/prod.values.yaml", "M")])
    assert a.to_dict() == b.to_dict()


def test_plan_json_shape_and_helpers(example):
    plan = plan_changes(example, ["clusters/pangeo-hubs/support.values.yaml", "clusters/pangeo-hubs/prod.values.yaml"])
    doc = json.loads(plan.to_json())
    assert list(doc) == ["support", "staging", "prod", "removed", "skipped", "ignored", "reasons"]
    assert doc == plan.to_dict()
    assert (
        doc["support"] == ["pangeo-hubs"]
        and doc["staging"] == ["pangeo-hubs/staging"]
        and doc["prod"] == ["pangeo-hubs/prod"]
    )
    assert plan.hub_ids() == ["pangeo-hubs/staging", "pangeo-hubs/prod"]
    assert plan.clusters() == ["pangeo-hubs"]
    assert not plan.is_empty
    assert plan.rows() == [
        ("support", "pangeo-hubs", "clusters/pangeo-hubs/support.values.yaml changed"),
        ("staging", "pangeo-hubs/staging", "staging canary for pangeo-hubs/prod"),
        ("prod", "pangeo-hubs/prod", "clusters/pangeo-hubs/prod.values.yaml changed"),
    ]
    assert Plan().is_empty and Plan(removed=["a/b"]).is_empty is False


# ---------------------------------------------------------------- the 2i2c fleet


def test_fixture_one_values_file(fixture):
    plan = plan_changes(fixture, ["config/clusters/leap/prod.values.yaml"])
    assert (plan.support, plan.staging, plan.prod) == ([], ["leap/staging"], ["leap/prod"])


def test_fixture_shared_values_file(fixture):
    shared = "config/clusters/utoronto/common-canvas.values.yaml"
    listing = [
        h
        for h in raw_hubs(TWO_I_TWO_C, "config/clusters")
        if h["cluster"] == "utoronto" and "common-canvas.values.yaml" in h["files"]
    ]
    plan = plan_changes(fixture, [shared])
    assert (plan.staging, plan.prod) == split(listing)
    assert (plan.staging, plan.prod) == (
        ["utoronto/staging", "utoronto/r-staging"],
        ["utoronto/prod", "utoronto/r-prod", "utoronto/highmem"],
    )


def test_fixture_support_values(fixture):
    plan = plan_changes(
        fixture, ["config/clusters/leap/support.values.yaml", "config/clusters/2i2c/enc-support.secret.values.yaml"]
    )
    assert (plan.support, plan.hub_ids()) == (["2i2c", "leap"], [])


def test_fixture_cluster_yaml_plans_the_whole_cluster(fixture):
    plan = plan_changes(fixture, ["config/clusters/earthscope/cluster.yaml"])
    assert (plan.support, plan.staging, plan.prod) == (
        ["earthscope"],
        ["earthscope/staging"],
        ["earthscope/prod", "earthscope/binder"],
    )


def test_fixture_chart_override_plans_its_hub(fixture):
    plan = plan_changes(fixture, ["config/clusters/2i2c-aws-us/chart.yaml"])
    assert (plan.staging, plan.prod) == (["2i2c-aws-us/staging"], [])


def test_fixture_basehub_change_plans_every_hub_in_order(fixture):
    hubs = raw_hubs(TWO_I_TWO_C, "config/clusters")
    plan = plan_changes(fixture, ["helm-charts/basehub/Chart.yaml"])
    assert plan.support == []
    assert (plan.staging, plan.prod) == split(hubs)
    assert len(plan.hub_ids()) == 171


def test_fixture_daskhub_change_leaves_basehub_prod_hubs_alone(fixture):
    hubs = raw_hubs(TWO_I_TWO_C, "config/clusters")
    daskhub_prod_clusters = {h["cluster"] for h in hubs if h["chart"] == "daskhub" and h["tier"] == "prod"}
    expected = [
        h for h in hubs if h["chart"] == "daskhub" or (h["tier"] == "staging" and h["cluster"] in daskhub_prod_clusters)
    ]  # canaries
    plan = plan_changes(fixture, ["helm-charts/daskhub/Chart.yaml"])
    assert (plan.staging, plan.prod) == split(expected)
    assert len(plan.prod) == 10
    for basehub_prod in ("leap/public", "earthscope/binder", "2i2c-aws-us/orcid-demo", "utoronto/prod"):
        assert basehub_prod not in plan.hub_ids()
    assert plan.reasons["2i2c-aws-us/staging"] == ["staging canary for 2i2c-aws-us/showcase"]


def test_fixture_support_chart_plans_every_support(fixture):
    plan = plan_changes(fixture, ["helm-charts/support/Chart.yaml"])
    assert plan.support == sorted(fixture.clusters) and len(plan.support) == 30
    assert plan.hub_ids() == []


def test_fixture_unrelated_paths(fixture):
    plan = plan_changes(
        fixture, ["docs/index.md", "config/clusters/templates/gcp/cluster.yaml", "deployer/__main__.py"]
    )
    assert plan.is_empty and len(plan.ignored) == 3


def test_index_is_built_once_per_fleet(example_fleet: Path):
    fleet = load_fleet(example_fleet, check_files=False)
    plan_changes(fleet, ["clusters/pangeo-hubs/prod.values.yaml"])
    index = fleet.__dict__["_plan_index"]
    plan_changes(fleet, ["clusters/local-demo/support.values.yaml"])
    assert fleet.__dict__["_plan_index"] is index
    # a fleet loaded after the config changed has its own index
    write(example_fleet, "clusters/pangeo-hubs/new.values.yaml", "a: 1\n")
    replace(
        example_fleet,
        "clusters/pangeo-hubs/cluster.yaml",
        "  - legacy.values.yaml\n",
        "  - legacy.values.yaml\n  - new.values.yaml\n",
    )
    assert plan_changes(fleet, ["clusters/pangeo-hubs/new.values.yaml"]).is_empty
    assert plan_changes(
        load_fleet(example_fleet, check_files=False), ["clusters/pangeo-hubs/new.values.yaml"]
    ).prod == ["pangeo-hubs/legacy"]
