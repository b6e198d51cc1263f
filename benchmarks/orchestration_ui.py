"""The asset pages of user_home_backups in Chromium (issue 18: no UI page over 3 s), on an
instance holding 2,000 hubs x 30 nights = 60,000 materialized partitions.

The fleet's backups.start_date gives exactly --nights nights. The materializations are real
Dagster events with the asset's own metadata (hub_ops.defs.backups.assets.snapshot_metadata,
a 14-row history table included), stored through the instance's SQLite event log storage a
night at a time in one transaction per shard (Dagster's own insert statements and tag/asset
index helpers) instead of one report_runless_asset_event per partition (129 ms each at load
10: 2 h for 60,000). `dagster dev` then serves the instance and each page is timed from
navigation until its content shows and the network is idle, a new browser context per load,
with the CPU seconds the webserver and Chromium spent on it (comparable under any load).

    python -m benchmarks orchestration_ui [-- --hubs 2000 --nights 30 --runs 3 --keep DIR --shape hub]

(--keep DIR: record into DIR once and reuse it on later runs, for quiet re-measurements.
--shape hub: the asset partitioned by hub only, a materialization of the hub's partition each
night, served from benchmarks/ui_shape_hub.py: 2,000 partitions instead of 60,000.)
`python -m benchmarks orchestration -- --only ui` runs the same through bench_ui.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PAGE_TARGET_S = 3.0  # issue 18
MARKER = "recorded.json"  # in the kept folder: what it holds
NIGHT_HUB, HUB = "night-hub", "hub"  # user_home_backups's partitions: (night, hub) as deployed, or hub only
SHAPES = (NIGHT_HUB, HUB)


def night_of(today: dt.date, nights: int, n: int) -> str:
    """The n-th (0-based) of the `nights` nights before `today`."""
    return (today - dt.timedelta(days=nights - n)).isoformat()


def set_backups_start(root: Path, today: dt.date, nights: int) -> None:
    """fleet.yaml backups.start_date so the date dimension has exactly `nights` partitions
    (today's is not one: partition D is the night after day D). The schedule moves to a yearly
    cron so `dagster dev`'s daemon adds no backfill while pages are timed."""
    from benchmarks.orchestration import git

    fleet_yaml = yaml.safe_load((root / "fleet.yaml").read_text())
    fleet_yaml["backups"] = {
        **fleet_yaml.get("backups", {}),
        "start_date": night_of(today, nights, 0),
        "schedule": "0 2 1 1 *",
    }
    (root / "fleet.yaml").write_text(yaml.safe_dump(fleet_yaml))
    git(root, "commit", "-q", "-am", f"backups: {nights} nights")


def backup_metadata(night: str, hub: str, i: int, n: int) -> dict:
    """The metadata user_home_backups records, from the asset's own function, for a made-up
    snapshot (and the 14 before it in the history table)."""
    from hub_ops.backup.manifest import SnapshotSummary
    from hub_ops.defs.backups.assets import HISTORY, snapshot_metadata

    def summary(k: int) -> SnapshotSummary:
        day = dt.date.fromisoformat(night) - dt.timedelta(days=k)
        return SnapshotSummary(
            id=f"{day.isoformat().replace('-', '')}T020000.000Z-{i:08x}",
            hub=hub,
            created=f"{day.isoformat()}T02:00:00+00:00",
            parent=None,
            source=f"/homes/{hub}",
            files=1000 + i,
            bytes=10_000_000 + i * (n + k),
            new_bytes=(i * (n + k)) % 50_000,
            stored_bytes=6_000_000,
            unique_bytes=9_000_000,
            hashed_files=10 + k,
            duration_s=2.5,
        )

    history = [summary(k) for k in range(HISTORY - 1, -1, -1)]
    meta = snapshot_metadata(history[-1], f"gs://bench-backups/snapshots/{hub}/{night}.parquet", history)
    import dagster as dg

    meta.update(forgotten_snapshots=dg.MetadataValue.int(0), hub=hub, verified=dg.MetadataValue.bool(True))
    return meta


def materialization_entries(night: str, hub_keys: list[str], n: int, shape: str = NIGHT_HUB) -> list:
    """One night's runless materialization events, built as
    DagsterInstance.report_runless_asset_event builds them, stamped 02:00 after the night: of
    the (night, hub) partitions, or (shape hub) of each hub's partition with the night in
    the metadata."""
    import dagster as dg
    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    from hub_ops.defs.backups.partitions import backup_partition_key

    stamp = dt.datetime.fromisoformat(night).replace(tzinfo=dt.UTC) + dt.timedelta(days=1, hours=2)
    entries = []
    for i, hub in enumerate(hub_keys):
        metadata = backup_metadata(night, hub, i, n)
        if shape == HUB:
            metadata["night"] = night
        partition = hub if shape == HUB else backup_partition_key(night, hub)
        materialization = dg.AssetMaterialization("user_home_backups", partition=partition, metadata=metadata)
        event = DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
            event_specific_data=StepMaterializationData(materialization),
            job_name=RUNLESS_JOB_NAME,
        )
        entries.append(
            EventLogEntry(
                user_message="",
                level=logging.INFO,
                job_name=RUNLESS_JOB_NAME,
                run_id=RUNLESS_RUN_ID,
                error_info=None,
                timestamp=stamp.timestamp() + i / 1000,
                step_key=None,
                dagster_event=event,
            )
        )
    return entries


def store_materializations(instance, entries: list) -> None:
    """What SqliteEventLogStorage.store_event does for each asset event (the row in the
    runless shard, its mirror in the index shard, its tags, the asset's last materialization),
    with one transaction per shard for the whole batch instead of one engine and transaction
    per event per shard."""
    from dagster._core.instance.utils import RUNLESS_RUN_ID
    from dagster._core.storage.event_log import SqliteEventLogStorage

    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage):
        raise TypeError(f"store_materializations writes SQLite event log storage, not {type(storage).__name__}")
    statements = [storage.prepare_insert_event(entry) for entry in entries]
    with storage.run_connection(RUNLESS_RUN_ID) as conn:
        for statement in statements:
            conn.execute(statement)
    with storage.index_transaction() as conn:
        ids = [conn.execute(statement).inserted_primary_key[0] for statement in statements]
        storage._store_asset_event_tags(conn, entries, ids)
        # the asset's row keeps its latest materialization: the batch's last is the latest
        storage._store_asset_event(conn, entries[-1], ids[-1])


def record_backups(instance, hub_keys: list[str], nights: int, today: dt.date, shape: str = NIGHT_HUB) -> float:
    """`nights` nights of user_home_backups materializations per hub; returns seconds."""
    start = time.perf_counter()
    for n in range(nights):
        store_materializations(instance, materialization_entries(night_of(today, nights, n), hub_keys, n, shape))
    return time.perf_counter() - start


# ------------------------------------------------------------------ the pages


def descendants(pid: int) -> list[int]:
    """`pid` and every process under it (from /proc: Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # exited meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        out.append(todo.pop())
        todo.extend(children.get(out[-1], []))
    return out


def cpu_seconds(pids: list[int], name_has: str = "") -> float:
    """User + system CPU seconds used so far by those of `pids` whose command line has `name_has`:
    what a page costs the machine whatever else runs on it (wall times here move with the load)."""
    import os

    total = 0.0
    for pid in pids:
        try:
            if name_has not in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def pages(hub: str, night: str, shape: str = NIGHT_HUB) -> dict[str, tuple[str, str]]:
    """What a person opens, and what shows once the page has its content."""
    from urllib.parse import quote

    key = quote(hub if shape == HUB else f"{night}|{hub}")
    return {
        "asset overview": ("/assets/user_home_backups", "Latest materialization"),
        "asset partitions": ("/assets/user_home_backups?view=partitions", "Materialized"),
        "one partition": (f"/assets/user_home_backups?view=partitions&partition={key}", "snapshot_id"),
        "runs of one hub": (f"/runs?q%5B0%5D={quote(f'tag:hub_ops/hub={hub}')}", "Runs"),
    }


def time_pages(
    url: str,
    targets: dict[str, tuple[str, str]],
    runs: int,
    shots: Path | None = None,
    server_pid=None,
    warm: bool = False,
):
    """({page: seconds of each run}, {page: [(graphql operation, seconds)] of the first run},
    {page: (webserver CPU s, Chromium CPU s) of each run}): from navigation until the page's
    content shows and the network is idle, each load in a new browser context (no cache), or with
    `warm` all in one tab that opened the UI once before (the app's code cached, as for an
    operator who has it open; every load still a new document asking the server afresh)."""
    import os

    from playwright.sync_api import expect, sync_playwright

    from hub_ops_tests.browser.dagster_ui import CHROMIUM_ARGS, chromium_executable

    out: dict[str, list[float]] = {name: [] for name in targets}
    queries: dict[str, list[tuple[str, float]]] = {}
    cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}

    def used() -> tuple[float, float]:
        server = cpu_seconds(descendants(server_pid), "webserver") if server_pid else 0.0
        return server, cpu_seconds(descendants(os.getpid()), "chrom")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
        try:
            if warm:
                context = browser.new_context(viewport={"width": 1600, "height": 1000})
                page = context.new_page()
                page.goto(url + "/")
                page.wait_for_load_state("networkidle", timeout=120_000)
            for run in range(runs):
                for name, (path, marker) in targets.items():
                    if not warm:
                        context = browser.new_context(viewport={"width": 1600, "height": 1000})
                        page = context.new_page()
                    graphql: list[tuple[str, float]] = []

                    def record(request, g=graphql):
                        if "/graphql" in request.url:
                            g.append(graphql_timing(request))

                    page.on("requestfinished", record)
                    before, start = used(), time.perf_counter()
                    page.goto(url + path)
                    expect(page.get_by_text(marker).first).to_be_visible(timeout=120_000)
                    page.wait_for_load_state("networkidle", timeout=120_000)
                    out[name].append(time.perf_counter() - start)
                    cpu[name].append(tuple(b - a for a, b in zip(before, used(), strict=True)))
                    queries.setdefault(name, graphql)
                    if shots and run == 0:
                        shots.mkdir(parents=True, exist_ok=True)
                        page.screenshot(path=str(shots / f"{name.replace(' ', '-')}.png"), full_page=True)
                    page.remove_listener("requestfinished", record)
                    if not warm:
                        context.close()
        finally:
            browser.close()
    return out, queries, cpu


def graphql_timing(request) -> tuple[str, float]:
    """(operation name, seconds from request start to the response's end) of a GraphQL request."""
    try:
        name = json.loads(request.post_data or "{}").get("operationName") or "?"
    except ValueError:
        name = "?"
    timing = request.timing
    return name, max(0.0, timing["responseEnd"] - timing["requestStart"]) / 1000


# ------------------------------------------------------------------ the run


def prepare(
    work: Path, root: Path, env: dict[str, str], hub_keys: list[str], nights: int, shape: str = NIGHT_HUB
) -> tuple[Path, float]:
    """The `dagster dev` work folder with its instance recorded (reused when `work` already
    holds one for these hubs, nights and shape); returns it and the seconds recording took (0 when reused)."""
    import dagster as dg

    from benchmarks.orchestration import environment

    marker = work / MARKER
    wanted = {"hubs": len(hub_keys), "nights": nights} | ({"shape": shape} if shape != NIGHT_HUB else {})
    if marker.exists() and json.loads(marker.read_text())["recorded"] == wanted:
        return work / "ui", 0.0
    shutil.rmtree(work / "ui", ignore_errors=True)
    home = work / "ui" / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    today = dt.datetime.now(dt.UTC).date()
    set_backups_start(root, today, nights)
    with environment(env), dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("hubs", hub_keys)
        seconds = record_backups(instance, hub_keys, nights, today, shape)
    marker.write_text(json.dumps({"recorded": wanted, "fleet": str(root), "today": today.isoformat(), "env": env}))
    return work / "ui", seconds


def code_folder(work: Path, workdir: Path, shape: str) -> Path:
    """What `dagster dev` serves: the repo (workspace.yaml, hub_ops.definitions), or for shape
    hub a folder whose workspace.yaml loads benchmarks/ui_shape_hub.py from the repo."""
    if shape == NIGHT_HUB:
        return REPO
    folder = work / f"shape-{shape}"
    folder.mkdir(exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", folder / "dagster.yaml")
    module = {"module_name": "benchmarks.ui_shape_hub", "attribute": "defs", "location_name": "hub_ops"}
    workspace = {"load_from": [{"python_module": module | {"working_directory": str(REPO)}}]}
    (folder / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    if not (workdir / "fleet").exists():  # what DagsterDev copies from the repo it serves
        shutil.copytree(REPO / "deployments", workdir / "fleet")
    return folder


def bench_ui(root: Path, env: dict[str, str], hub_keys: list[str], work: Path, args) -> int:
    """Record (or reuse) the instance, serve it with `dagster dev`, time the pages; returns
    the pages over target."""
    from benchmarks.orchestration import line, load_note
    from hub_ops_tests.browser.dagster_ui import DagsterDev

    shape = getattr(args, "shape", NIGHT_HUB)  # `orchestration -- --only ui` times the deployed shape
    workdir, seconds = prepare(work, root, env, hub_keys, args.nights, shape)
    env = json.loads((work / MARKER).read_text())["env"]
    today = dt.date.fromisoformat(json.loads((work / MARKER).read_text())["today"])
    recorded = f"recorded in {seconds:.0f} s" if seconds else f"reused from {work}"
    print(
        f"\nUI: {len(hub_keys)} hubs x {args.nights} nights = {len(hub_keys) * args.nights} materializations "
        f"(partitions: {shape}) {recorded}; dagster dev, Chromium, "
        f"{'one warm tab' if getattr(args, 'warm', False) else 'a new context each load'} ({load_note()}):",
        flush=True,
    )
    targets = pages(hub_keys[len(hub_keys) // 2], night_of(today, args.nights, args.nights - 1), shape)
    server = DagsterDev(code_folder(work, workdir, shape), workdir, env=env).start(timeout=300)
    try:
        timed, queries, cpu = time_pages(
            server.url, targets, args.runs, args.shots, server.server.proc.pid, getattr(args, "warm", False)
        )
    finally:
        server.stop()
    missed = 0
    for name, samples in timed.items():
        line(name, samples, PAGE_TARGET_S)
        missed += max(samples) > PAGE_TARGET_S  # met only when every load meets it
    print(f"  (load average after: {load_note()}; first load includes the partition status cache)")
    print("CPU seconds of each load, dagster-webserver + Chromium (what the load average does not move):")
    for name, loads in cpu.items():
        print(f"  {name:20} " + ", ".join(f"{server:.2f} + {browser:.2f}" for server, browser in loads))
    print("GraphQL requests of each page's first load (seconds, slowest first):")
    for name, requests in queries.items():
        slowest = sorted(requests, key=lambda r: -r[1])[:4]
        print(f"  {name:20} " + ", ".join(f"{op} {s:.2f}" for op, s in slowest))
    return missed


def main(argv: list[str]) -> int:
    from benchmarks.orchestration import build_fleet, fleet_env
    from hub_ops.fleet import load_fleet

    parser = argparse.ArgumentParser(prog="benchmarks orchestration_ui")
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--hubs", type=int, default=2000, help="spread over --clusters")
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="record into this folder, or reuse what it holds")
    parser.add_argument("--shots", type=Path, help="save screenshots of the timed pages here")
    parser.add_argument("--shape", choices=SHAPES, default=NIGHT_HUB, help="user_home_backups's partitions")
    parser.add_argument("--warm", action="store_true", help="time the loads in one tab that opened the UI before")
    args, _ = parser.parse_known_args(argv)  # `python -m benchmarks` passes every benchmark's arguments
    work = args.keep or Path(tempfile.mkdtemp(prefix="hub-ops-bench-ui-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        marker = work / MARKER
        if marker.exists():
            root = Path(json.loads(marker.read_text())["fleet"])
        else:
            shutil.rmtree(work / "fleet", ignore_errors=True)
            root = build_fleet(work / "fleet", args.clusters, args.hubs)
        hub_keys = [h.partition_key for h in load_fleet(root, check_files=False).hubs()]
        return 1 if bench_ui(root, fleet_env(root, work / "data"), hub_keys, work, args) else 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
