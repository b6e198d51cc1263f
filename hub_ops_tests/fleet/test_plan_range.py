"""Planning a git range on real temporary repositories (the git CLI through GitRepo).

The example fleet sits in a `deployments/` subfolder of its repository, as in this project,
so every test here also checks that paths are taken relative to the fleet root.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hub_ops.clients.git import GitRepo
from hub_ops.fleet import load_fleet
from hub_ops.fleet.planner import Plan, plan_range
from hub_ops_tests.conftest import EXAMPLE_FLEET, TWO_I_TWO_C
from hub_ops_tests.fleet_helpers import ScratchRepo, replace, write

C = "clusters/community-hubs/cluster.yaml"
P = "clusters/pangeo-hubs/cluster.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> ScratchRepo:
    """A repository whose deployments/ folder is the example fleet, one commit in."""
    r = ScratchRepo.init(tmp_path / "repo")
    shutil.copytree(EXAMPLE_FLEET, r.path / "deployments")
    write(r.path, "README.md", "the fleet repo\n")
    r.commit("example fleet")
    return r


def plan_head(fleet_root: Path, base: str, head: str = "HEAD") -> Plan:
    """Plan base..head, with the fleet loaded from the working tree (== head here)."""
    git = GitRepo(fleet_root)
    assert git.resolve(head) == git.resolve("HEAD")
    return plan_range(
        load_fleet(fleet_root, check_files=False), git.changed_paths(base, head), lambda p: git.show(base, p)
    )


def test_values_file_renamed_with_cluster_yaml_updated(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    repo.git(
        "mv",
        "deployments/clusters/pangeo-hubs/prod.values.yaml",
        "deployments/clusters/pangeo-hubs/production.values.yaml",
    )
    replace(fleet, P, "  - prod.values.yaml\n", "  - production.values.yaml\n")
    repo.commit("rename prod values")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.staging, plan.prod, plan.removed, plan.ignored) == (
        [],
        ["pangeo-hubs/staging"],
        ["pangeo-hubs/prod"],
        [],
        [],
    )
    assert plan.reasons["pangeo-hubs/prod"] == [
        "clusters/pangeo-hubs/cluster.yaml: hub entry changed (helm_chart_values_files)",
        "clusters/pangeo-hubs/production.values.yaml renamed",
        "clusters/pangeo-hubs/prod.values.yaml renamed",
    ]


def test_shared_values_file_renamed_plans_every_hub_that_listed_it(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    repo.git(
        "mv",
        "deployments/clusters/community-hubs/common.values.yaml",
        "deployments/clusters/community-hubs/shared.values.yaml",
    )
    replace(fleet, C, "  - common.values.yaml\n", "  - shared.values.yaml\n", count=4)
    repo.commit("rename shared values")
    plan = plan_head(fleet, base)
    assert plan.staging == ["community-hubs/staging"]
    assert plan.prod == ["community-hubs/ohw", "community-hubs/climatematch", "community-hubs/uni"]


def test_values_file_deleted(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    (fleet / "clusters/community-hubs/ohw.values.yaml").unlink()
    replace(fleet, C, "  - ohw.values.yaml\n", "")
    repo.commit("ohw needs no values of its own")
    plan = plan_head(fleet, base)
    assert (plan.staging, plan.prod, plan.ignored) == (["community-hubs/staging"], ["community-hubs/ohw"], [])
    assert plan.reasons["community-hubs/ohw"] == [
        "clusters/community-hubs/cluster.yaml: hub entry changed (helm_chart_values_files)",
        "clusters/community-hubs/ohw.values.yaml deleted",
    ]


def test_hub_entry_edit_plans_only_that_hub(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    replace(fleet, C, "domain: climatematch.community.example.org", "domain: cma.community.example.org")
    repo.commit("new domain for climatematch")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.staging, plan.prod) == ([], ["community-hubs/staging"], ["community-hubs/climatematch"])
    assert plan.reasons["community-hubs/climatematch"] == [
        "clusters/community-hubs/cluster.yaml: hub entry changed (domain)"
    ]


def test_staging_entry_edit_plans_only_staging(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    replace(fleet, P, "display_name: Pangeo (staging)", "display_name: Pangeo staging")
    repo.commit("rename staging")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.staging, plan.prod) == ([], ["pangeo-hubs/staging"], [])


def test_provider_block_change_plans_the_whole_cluster(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    replace(fleet, P, "  zone: us-central1-b\n", "  zone: us-central1\n")
    repo.commit("regional cluster")
    plan = plan_head(fleet, base)
    assert plan.support == ["pangeo-hubs"]
    assert (plan.staging, plan.prod) == (["pangeo-hubs/staging"], ["pangeo-hubs/prod", "pangeo-hubs/legacy"])
    assert plan.reasons["pangeo-hubs/legacy"] == ["clusters/pangeo-hubs/cluster.yaml: gcp changed"]


def test_support_block_change_plans_the_whole_cluster(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    write(fleet, "clusters/local-demo/ingress.values.yaml", "ingress: {}\n")
    replace(
        fleet,
        "clusters/local-demo/cluster.yaml",
        "  - support.values.yaml\n",
        "  - support.values.yaml\n  - ingress.values.yaml\n",
    )
    repo.commit("support ingress values")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.staging, plan.prod) == (["local-demo"], ["local-demo/staging"], ["local-demo/workshop"])
    assert plan.reasons["local-demo"] == [
        "clusters/local-demo/cluster.yaml: support changed",
        "clusters/local-demo/ingress.values.yaml added",
    ]


def test_removed_hub_is_reported_never_dropped(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    text = (fleet / C).read_text()
    (fleet / C).write_text(text[: text.index("- name: climatematch")] + text[text.index("- name: uni") :])
    for name in ("climatematch.values.yaml", "enc-climatematch.secret.values.yaml"):
        (fleet / "clusters/community-hubs" / name).unlink()
    repo.commit("climatematch is over")
    plan = plan_head(fleet, base)
    assert plan.to_dict() == {
        "support": [],
        "staging": [],
        "prod": [],
        "removed": ["community-hubs/climatematch"],
        "skipped": [],
        "ignored": [
            "clusters/community-hubs/climatematch.values.yaml",
            "clusters/community-hubs/enc-climatematch.secret.values.yaml",
        ],
        "reasons": {
            "community-hubs/climatematch": ["removed from clusters/community-hubs/cluster.yaml: needs decommission"]
        },
    }
    assert not plan.is_empty
    assert plan.rows() == [
        (
            "removed",
            "community-hubs/climatematch",
            "removed from clusters/community-hubs/cluster.yaml: needs decommission",
        )
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "  backups:\n    retain: {daily: 7, weekly: 4, monthly: 12}\n",
            "  backups:\n    retain: {daily: 14, weekly: 4, monthly: 12}\n",
        ),
        ("    on: 2026-12-14\n", "    on: 2027-01-31\n"),
        ("    successor: prod\n    notice_days: 14\n", "    successor: prod\n    notice_days: 30\n"),
        (
            "  - enc-legacy.secret.values.yaml\n  home: {pvc: home-nfs}\n",
            "  - enc-legacy.secret.values.yaml\n  home: {pvc: home-nfs-2}\n",
        ),
        ("node_pools: [core-pool, nb-n2-highmem-4, dask-n2-highmem-16]", "node_pools: [core-pool, nb-n2-highmem-4]"),
        ("- name: prod\n", "- name: prod  # the main hub\n"),
    ],
    ids=["backups", "decommission-date", "decommission-notice", "home", "node-pools", "comment"],
)
def test_edits_that_never_reach_helm_deploy_nothing(repo: ScratchRepo, old: str, new: str):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    replace(fleet, P, old, new)
    repo.commit("hub_ops-only edit")
    plan = plan_head(fleet, base)
    assert plan.is_empty
    assert plan.ignored == ["clusters/pangeo-hubs/cluster.yaml"]


def test_hubs_reordered_deploy_nothing(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    text = (fleet / C).read_text()
    head, uni = text[: text.index("- name: uni")], text[text.index("- name: uni") :]
    hubs_at = head.index("hubs:\n") + len("hubs:\n")
    (fleet / C).write_text(head[:hubs_at] + uni + head[hubs_at:])
    repo.commit("uni first")
    assert load_fleet(fleet).clusters["community-hubs"].hubs[0].name == "uni"
    assert plan_head(fleet, base).is_empty


def test_hub_added(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    write(fleet, "clusters/local-demo/class.values.yaml", "jupyterhub: {}\n")
    replace(
        fleet,
        "clusters/local-demo/cluster.yaml",
        "hubs:\n",
        "hubs:\n- name: class\n  display_name: A class\n  domain: class.localhost\n  helm_chart: basehub\n"
        "  helm_chart_values_files: [class.values.yaml]\n",
    )
    repo.commit("a hub for a class")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.staging, plan.prod) == ([], ["local-demo/staging"], ["local-demo/class"])
    assert plan.reasons["local-demo/class"] == [
        "clusters/local-demo/class.values.yaml added",
        "hub added to clusters/local-demo/cluster.yaml",
    ]


def test_new_cluster(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    shutil.copytree(fleet / "clusters/local-demo", fleet / "clusters/local-two")
    replace(fleet, "clusters/local-two/cluster.yaml", "name: local-demo", "name: local-two")
    repo.commit("a second local cluster")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.staging, plan.prod) == (["local-two"], ["local-two/staging"], ["local-two/workshop"])
    assert plan.reasons["local-two"][0] == "new cluster (clusters/local-two/cluster.yaml added)"
    assert plan.ignored == []


def test_cluster_deleted_reports_every_hub_removed(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    shutil.rmtree(fleet / "clusters/local-demo")
    repo.commit("local-demo is gone")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.hub_ids()) == ([], [])
    assert plan.removed == ["local-demo/staging", "local-demo/workshop"]
    assert plan.reasons["local-demo/workshop"] == [
        "cluster removed (clusters/local-demo/cluster.yaml deleted): needs decommission"
    ]


def test_cluster_folder_renamed(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    base = repo.git("rev-parse", "HEAD")
    repo.git("mv", "deployments/clusters/local-demo", "deployments/clusters/laptop")
    replace(fleet, "clusters/laptop/cluster.yaml", "name: local-demo", "name: laptop")
    repo.commit("rename cluster")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.staging, plan.prod) == (["laptop"], ["laptop/staging"], ["laptop/workshop"])
    assert plan.removed == ["local-demo/staging", "local-demo/workshop"]


def test_base_cluster_yaml_unreadable_plans_every_hub(repo: ScratchRepo):
    fleet = repo.path / "deployments"
    write(fleet, "clusters/local-demo/cluster.yaml", "name: [broken\n")
    base = repo.commit("broken on main")
    repo.git("checkout", "-q", "HEAD~1", "--", "deployments/clusters/local-demo/cluster.yaml")
    repo.commit("fixed")
    plan = plan_head(fleet, base)
    assert (plan.support, plan.hub_ids()) == (["local-demo"], ["local-demo/staging", "local-demo/workshop"])


def test_changes_outside_the_fleet_folder_are_not_seen(repo: ScratchRepo):
    base = repo.git("rev-parse", "HEAD")
    write(repo.path, "README.md", "changed\n")
    write(repo.path, "clusters/pangeo-hubs/prod.values.yaml", "not the fleet's\n")
    repo.commit("outside")
    plan = plan_head(repo.path / "deployments", base)
    assert plan.is_empty and plan.ignored == []


def test_fleet_at_the_repository_root(tmp_path: Path):
    r = ScratchRepo.init(tmp_path / "fleet")
    shutil.copytree(EXAMPLE_FLEET, r.path, dirs_exist_ok=True)
    base = r.commit("fleet")
    replace(r.path, C, "domain: uni.community.example.org", "domain: teaching.community.example.org")
    r.commit("uni domain")
    plan = plan_head(r.path, base)
    assert (plan.staging, plan.prod) == (["community-hubs/staging"], ["community-hubs/uni"])


def test_2i2c_fleet_hub_entry_edit(tmp_path: Path):
    r = ScratchRepo.init(tmp_path / "infrastructure")
    shutil.copytree(TWO_I_TWO_C, r.path, dirs_exist_ok=True)
    base = r.commit("2i2c")
    replace(r.path, "config/clusters/leap/cluster.yaml", "display_name: LEAP Public", "display_name: LEAP Public Hub")
    r.git("mv", "config/clusters/utoronto/highmem.values.yaml", "config/clusters/utoronto/bigmem.values.yaml")
    replace(r.path, "config/clusters/utoronto/cluster.yaml", "  - highmem.values.yaml\n", "  - bigmem.values.yaml\n")
    r.commit("leap public name, utoronto highmem values renamed")
    plan = plan_head(r.path, base)
    assert plan.support == []
    assert plan.staging == ["leap/staging", "utoronto/staging", "utoronto/r-staging"]
    assert plan.prod == ["leap/public", "utoronto/highmem"]
    assert plan.removed == [] and plan.ignored == []
