"""The web UI operators use every day, in a real browser: Debian's Chromium driven by
Playwright against `dagster dev` on a copy of the example fleet. Screenshots of every step
go to test-artifacts/browser/.

The lists below are the contract: every asset an operator looks for must be in the lineage
graph, and every job launched here must succeed from the Launchpad with its config form.
Extend them as domains land (user_home_backups; restore_homes_job).
"""

from dataclasses import dataclass

import pytest
from playwright.sync_api import expect, sync_playwright

from hub_ops_tests.browser.dagster_ui import (
    CHROMIUM_ARGS,
    DagsterDev,
    Screenshots,
    chromium_executable,
    jump_to_asset,
    launch_from_launchpad,
    open_page,
)
from hub_ops_tests.conftest import REPO

ASSET_KEYS = [
    "clusters",
    "hub_releases",
    "user_home_backups",
    "hub_daily_costs",
    "monthly_cost_report",
    "decommission_notices",
    "hub_decommissions",
]


@dataclass(frozen=True)
class Launch:
    job: str
    config_yaml: str  # what an operator types into the Launchpad's editor
    partition: str | None = None  # the hub, for jobs that change one
    # deploy_job runs each step in its own process (~10 s of imports each on a loaded 2-core
    # machine: 90 s in all at load 8), so it gets longer than the others
    timeout_s: float = 120


LAUNCHES = [
    Launch("clusters_refresh_job", "ops:\n  clusters:\n    config:\n      list_nodes: false\n"),
    # the dagster dev fleet is a plain copy (no git history): name the releases to render
    Launch(
        "deploy_job",
        "ops:\n  plan_deploy:\n    config:\n      dry_run: true\n"
        "      hubs: [local-demo/staging, local-demo/workshop]\n",
        timeout_s=360,
    ),
    # the fixture took a snapshot of local-demo/staging's homes, then ada lost a file: restore
    # her folder into the live homes (naming nobody would restore beside them instead)
    Launch(
        "restore_homes_job",
        "ops:\n  restore_homes:\n    config:\n      snapshot: latest\n      users: [ada]\n",
        partition="local-demo.staging",
    ),
    # a manual decommission is a dry run (the notice report) unless it says dry_run: false
    Launch("decommission_job", "ops:\n  plan_decommission:\n    config: {}\n", partition="pangeo-hubs.legacy"),
]

ARTIFACTS = REPO / "test-artifacts" / "browser"
LOST_FILE = "ada/thesis.md"  # in local-demo/staging's homes: deleted after its snapshot


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("dagster-dev")
    _snapshot_then_lose_a_file(workdir)
    _hub_partitions(workdir)
    server = DagsterDev(REPO, workdir).start()
    yield server
    server.stop()


def _snapshot_then_lose_a_file(workdir):
    """local-demo/staging's homes (where the fleet copy says) with one snapshot taken by the
    engine into the local storage dagster dev uses; then a file is deleted."""
    from hub_ops.backup import Repository, create_snapshot
    from hub_ops.clients.storage import Storage

    homes = workdir / ".data" / "homes" / "local-demo" / "staging"
    lost = homes / LOST_FILE
    lost.parent.mkdir(parents=True)
    lost.write_text("restored by restore_homes_job\n")
    repo = Repository.open("gs://example-fleet-backups", Storage(local_root=str(workdir / "data")))
    create_snapshot(repo, "local-demo/staging", homes)
    lost.unlink()
    return lost


def _hub_partitions(workdir):
    """The `hubs` partitions, as hub_partitions_sensor adds them (it ticks once a minute)."""
    import shutil

    import dagster as dg

    from hub_ops.fleet import load_fleet

    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("hubs", [h.partition_key for h in load_fleet(REPO / "deployments").hubs()])


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture(scope="module")
def shots() -> Screenshots:
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return Screenshots(ARTIFACTS)


def test_lineage_graph_shows_every_asset(dagster_dev, page, shots):
    open_page(page, f"{dagster_dev.url}/asset-groups")
    shots.take(page, "asset-lineage")
    for key in ASSET_KEYS:
        node = jump_to_asset(page, key)
        shots.take(page, f"asset-lineage-{key}")
        expect(node).to_be_visible()


@pytest.mark.parametrize("launch", LAUNCHES, ids=lambda launch: launch.job)
def test_job_launches_from_the_launchpad_and_succeeds(dagster_dev, page, shots, launch):
    launch_from_launchpad(
        page,
        dagster_dev.url,
        launch.job,
        launch.config_yaml,
        shots,
        partition=launch.partition,
        timeout_s=launch.timeout_s,
    )


def test_the_launched_restore_brought_the_lost_file_back(dagster_dev):
    """restore_homes_job, launched above from the Launchpad, ran for real."""
    homes = dagster_dev.workdir / ".data" / "homes" / "local-demo" / "staging"
    assert (homes / LOST_FILE).read_text() == "restored by restore_homes_job\n"


def test_clusters_asset_page_shows_the_table_and_checks(dagster_dev, page, shots):
    """After the refresh above: the asset's page carries the per-cluster table and its checks."""
    open_page(page, f"{dagster_dev.url}/assets/clusters")
    expect(page.get_by_text("not reachable: no API configured").first).to_be_visible()
    shots.take(page, "clusters-asset")
    open_page(page, f"{dagster_dev.url}/assets/clusters?view=checks")
    for check in ("reachable", "versions_within_skew", "declared_node_pools_exist", "upgrades_and_support"):
        expect(page.get_by_text(check, exact=True).first).to_be_visible()
    shots.take(page, "clusters-checks")
