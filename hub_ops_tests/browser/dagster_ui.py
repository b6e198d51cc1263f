"""`dagster dev` on a copy of the example fleet, and what an operator does in its web UI,
driven through Playwright in Debian's Chromium (never a browser Playwright downloads).

`dagster dev` ignores SIGINT/SIGTERM when started in the background from a shell, so it is
started from here in a process group of its own and stopped by SIGTERM to that group.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, expect

from hub_ops_dev.stack.process import ServerProcess, free_port

CHROMIUM_CANDIDATES = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    for path in CHROMIUM_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    raise FileNotFoundError(f"Chromium not found at {' or '.join(CHROMIUM_CANDIDATES)}: apt-get install chromium")


@dataclass
class DagsterDev:
    """`dagster dev -w workspace.yaml` with DAGSTER_HOME in `workdir` (the repo's dagster.yaml)
    and HUB_OPS_FLEET pointing at a copy of deployments/."""

    repo: Path
    workdir: Path
    port: int = 0
    server: ServerProcess | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> DagsterDev:
        home, fleet = self.workdir / "dagster_home", self.workdir / "fleet"
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.repo / "dagster.yaml", home / "dagster.yaml")
        # Dagster shows its first-visit "Join the Dagster community" dialog unless this file
        # exists (dagster._core.nux): without it the dialog can appear late and block clicks
        (home / ".nux").mkdir(exist_ok=True)
        (home / ".nux" / "nux.yaml").write_text("seen: 1\n")
        if not fleet.exists():
            shutil.copytree(self.repo / "deployments", fleet)
        self.port = self.port or free_port()
        dagster = Path(sys.executable).with_name("dagster")
        self.server = ServerProcess(
            "dagster-dev",
            [str(dagster), "dev", "-w", str(self.repo / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(self.port)],
            log=self.workdir / "dagster-dev.log",
            cwd=self.repo,
            env={
                "DAGSTER_HOME": str(home),
                "HUB_OPS_ENV": "local",
                "HUB_OPS_FLEET": str(fleet),
                "HUB_OPS_DATA": str(self.workdir / "data"),
                **self.env,
            },
        ).start()
        self.server.wait_ready(
            lambda: urllib.request.urlopen(f"{self.url}/server_info", timeout=2).status == 200, timeout=timeout
        )
        return self

    def stop(self) -> None:
        if self.server:
            self.server.stop(timeout=20)


@dataclass
class Screenshots:
    """Numbered screenshots of each step, for a person to look at after the run."""

    folder: Path
    count: int = 0

    def take(self, page: Page, name: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def open_page(page: Page, url: str) -> None:
    page.goto(url)


def asset_node(page: Page, key: str):
    """An asset's node in the lineage graph (by its name as the node shows it)."""
    return page.locator('[class*="AssetNode_assetName"]').locator(f'[data-tooltip="{key}"]')


def jump_to_asset(page: Page, key: str):
    """In the global lineage graph, find `key` the way a person does with several groups
    (they start collapsed, and the graph draws only what is on screen): type it into
    "Jump to…" and press Enter, which expands its group, selects the asset and opens its panel.
    Returns the asset's entry in the graph's asset tree plus its node: with many groups the node
    may sit behind the opened panel, the tree entry is always on screen."""
    page.get_by_placeholder("Jump to").fill(key)
    page.keyboard.press("Enter")
    tree_entry = page.locator('[role="treeitem"], [class*="Sidebar"]').get_by_text(key, exact=True).first
    return tree_entry


def set_launchpad_config(page: Page, config_yaml: str) -> str:
    """Replace the Launchpad's config editor content the way a person pastes it: select all,
    insert the text. Returns what the editor then holds."""
    editor = page.locator(".CodeMirror").first
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(config_yaml)
    return editor.evaluate("e => e.CodeMirror.getValue()")


def launch_from_launchpad(
    page: Page,
    base_url: str,
    job: str,
    config_yaml: str,
    shots: Screenshots,
    location: str = "hub_ops",
    timeout_s: float = 120,
    partition: str | None = None,
) -> str:
    """Open `job`'s Launchpad, pick its `partition` (jobs that change one hub are partitioned
    by hub), fill its config, launch, and wait on the run page until the run succeeded.
    Returns the run id. Fails with the run page's screenshot saved when it did not."""
    open_page(page, f"{base_url}/locations/{location}/jobs/{job}/playground")
    expect(page.get_by_role("button", name="Launch Run")).to_be_visible(timeout=30_000)
    if partition:
        box = page.get_by_placeholder("Partition")
        box.click()
        box.fill(partition)
        page.keyboard.press("Enter")
        # the partition's tags, which dagster.yaml's one-run-per-hub limit reads
        hub = partition.replace(".", "/", 1)  # the tag spells the hub cluster/hub
        expect(page.get_by_text(f"hub_ops/hub: {hub}").first).to_be_visible(timeout=15_000)
    held = set_launchpad_config(page, config_yaml)
    assert held.strip() == config_yaml.strip(), f"the editor holds:\n{held}"
    expect(page.get_by_text("No errors")).to_be_visible(timeout=15_000)  # the form validated the config
    shots.take(page, f"{job}-launchpad")
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url("**/runs/*", timeout=30_000)
    run_id = page.url.rstrip("/").split("/runs/")[1].split("?")[0]
    shots.take(page, f"{job}-run-started")
    deadline = time.monotonic() + timeout_s
    status = None
    while time.monotonic() < deadline:
        status = run_status(base_url, run_id)
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(1)
    page.reload()
    if status == "SUCCESS":  # and the run page says so to a person
        expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Loading run logs")).to_have_count(0, timeout=30_000)  # the events, for the screenshot
    shots.take(page, f"{job}-run-{(status or 'timeout').lower()}")
    assert status == "SUCCESS", f"run {run_id} of {job} ended {status}; see the screenshots in {shots.folder}"
    return run_id


def run_status(base_url: str, run_id: str) -> str | None:
    """The run's status from the webserver's GraphQL API (what the UI itself reads)."""
    import json

    query = {
        "query": "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
        "variables": {"id": run_id},
    }
    request = urllib.request.Request(
        f"{base_url}/graphql", data=json.dumps(query).encode(), headers={"Content-Type": "application/json"}
    )
    body = json.loads(urllib.request.urlopen(request, timeout=10).read())
    return (body.get("data") or {}).get("runOrError", {}).get("status")
