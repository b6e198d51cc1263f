"""`fleet_status` as an on-call operator reads it, in Chromium against `dagster dev`, after the
demo's backup and cost flows ran on a fresh instance (hub_ops_tests.browser.flows): the
failing hubs first, the figures the backup and cost assets recorded, every table inline (no
"[Show Markdown]", no raw `|` pipes), and partition pages that do not count thousands of
missing partitions. Screenshots go to test-artifacts/browser-fleet-status/.

Every wait is for content on the page (Playwright's `expect`), never a fixed sleep: under
load the UI renders late, not differently.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import expect, sync_playwright

from hub_ops.backup.config import backups_enabled
from hub_ops.fleet import load_fleet
from hub_ops_tests.browser.dagster_ui import CHROMIUM_ARGS, DagsterDev, Screenshots, chromium_executable, open_page
from hub_ops_tests.conftest import REPO

ARTIFACTS = REPO / "test-artifacts" / "browser-fleet-status"
START_S = 300  # dagster dev takes 8 s alone, minutes beside five other test runs
WAIT_MS = 60_000  # a loaded machine renders late; the content decides, not the clock


@pytest.fixture(scope="module")
def served():
    # not pytest's tmp_path: other pytest sessions on the machine prune its older folders,
    # and dagster dev would lose its instance mid-test
    workdir = Path(tempfile.mkdtemp(prefix="hub-ops-fleet-status-"))
    shutil.copytree(REPO / "deployments", workdir / "fleet")
    (workdir / "dagster_home").mkdir()
    shutil.copy(REPO / "dagster.yaml", workdir / "dagster_home" / "dagster.yaml")
    flows = subprocess.run(
        [sys.executable, "-m", "hub_ops_tests.browser.flows", str(workdir), str(REPO)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert flows.returncode == 0, flows.stdout[-3000:] + flows.stderr[-3000:]
    server = DagsterDev(REPO, workdir).start(timeout=START_S)
    yield server
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def recorded(served):
    """What the assets recorded, read from the instance (not from fleet_status)."""
    with dg.DagsterInstance.from_config(str(served.workdir / "dagster_home")) as instance:

        def latest(key: str, partition: str | None = None):
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[partition] if partition else None),
                limit=1,
            ).records
            return records[0].asset_materialization if records else None

        status = latest("fleet_status")
        backups = {}
        for record in instance.fetch_materializations(dg.AssetKey("user_home_backups"), limit=100).records:
            night, _, hub = record.asset_materialization.partition.partition("|")
            if hub not in backups or night > backups[hub][0]:
                backups[hub] = (night, record.asset_materialization.metadata["bytes"].value)
        today = dt.datetime.now(dt.UTC).date()
        net: dict[str, float] = {}
        for day in (today - dt.timedelta(days=i) for i in range(1, 31)):
            costs = latest("hub_daily_costs", day.isoformat())
            for row in costs.metadata["hubs"].records if costs else []:
                net[row.data["hub"]] = net.get(row.data["hub"], 0.0) + float(row.data.get("net") or 0.0)
        return {
            "summary": status.metadata["summary"].value,
            "rows": [r.data for r in status.metadata["hubs"].records],
            "backup_bytes": {hub.replace(".", "/", 1): b for hub, (_, b) in backups.items()},
            "net_30d": {hub: round(v, 2) for hub, v in net.items()},
        }


@pytest.fixture(scope="module")
def page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1800, "height": 1100})
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots() -> Screenshots:
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return Screenshots(ARTIFACTS)


def _no_markdown_left(page) -> None:
    """Every table on the page renders inline: no "[Show Markdown]" to click, no raw pipes."""
    expect(page.get_by_text("[Show Markdown]")).to_have_count(0)
    text = page.locator("body").inner_text()
    assert "|---" not in text and not re.search(r"^\s*\|.*\|\s*$", text, re.M), "a markdown table shows raw"


def _cells(row) -> list[str]:
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def test_fleet_status_puts_failing_hubs_first_with_the_recorded_figures(served, recorded, page, shots):
    fleet = load_fleet(served.workdir / "fleet")
    # independently of fleet_status: hubs that should back up and have no snapshot are failing
    without = sorted(h.id for h in fleet.hubs() if backups_enabled(h) and h.id not in recorded["backup_bytes"])
    assert without and recorded["backup_bytes"], "the flows backed up some hubs and not others"
    backed_up = "local-demo/staging"  # the demo backs up local-demo's hubs; the export bills the others
    billed = {h.id: recorded["net_30d"][h.id] for h in fleet.hubs() if h.id in recorded["net_30d"]}
    costly = max(billed, key=billed.get)  # the costs table also has shared lines and a total
    assert backed_up in recorded["backup_bytes"] and recorded["net_30d"][costly] > 0

    # the Events view shows the latest materialization with its metadata
    open_page(page, f"{served.url}/assets/fleet_status?view=events")
    expect(page.get_by_text(recorded["summary"], exact=True).first).to_be_visible(timeout=WAIT_MS)
    assert recorded["summary"].startswith(f"{len(without)} hub")
    expect(page.locator("tr").filter(has_text=without[0]).first).to_be_visible(timeout=WAIT_MS)
    shots.take(page, "fleet-status")

    hubs = [r["hub"] for r in recorded["rows"]]
    shown = [cells[0] for cells in map(_cells, page.locator("tr").all()) if cells and cells[0] in hubs]
    assert shown == hubs and shown[0] == without[0], shown  # every hub once, the failing hub first
    first = _row(page, without[0])
    assert "failing" in first and "no snapshot" in " ".join(first), first
    backed = _numbers(_row(page, backed_up))
    assert recorded["backup_bytes"][backed_up] in backed, backed  # as user_home_backups recorded it
    net = recorded["net_30d"][costly]
    assert any(n == pytest.approx(net, abs=0.005) for n in _numbers(_row(page, costly))), net  # as hub_daily_costs
    _no_markdown_left(page)


def test_partition_pages_count_only_days_since_the_fleet_started(served, page, shots):
    """user_home_backups starts at fleet.yaml backups.start_date, not years back."""
    fleet = load_fleet(served.workdir / "fleet")
    nights = (dt.datetime.now(dt.UTC).date() - fleet.settings.backups.start_date).days
    hubs = sum(1 for _ in fleet.hubs())
    for asset, most in (("user_home_backups", (nights + 1) * hubs), ("hub_daily_costs", 400)):
        open_page(page, f"{served.url}/assets/{asset}?view=partitions")
        missing = page.get_by_text(re.compile(r"^Missing \([\d,]+\)$")).first
        expect(missing).to_be_visible(timeout=WAIT_MS)
        shots.take(page, f"{asset}-partitions")
        count = int(re.search(r"[\d,]+", missing.inner_text()).group().replace(",", ""))
        assert 0 < count <= most and count < 1000, count  # since the fleet's start date, never years of nights
        _no_markdown_left(page)


def _row(page, hub: str) -> list[str]:
    return next(cells for cells in map(_cells, page.locator("tr").all()) if cells and cells[0] == hub)


def _numbers(cells: list[str]) -> list[float]:
    """The cells that read as numbers (thousands separators allowed)."""
    out = []
    for cell in cells:
        try:
            out.append(float(cell.replace(",", "")))
        except ValueError:
            pass
    return out
