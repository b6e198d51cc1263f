"""The community report of a hub's month, materialized by the `community_reports` asset
against real parts: activity recorded from a real JupyterHub (its own), backups of a known
tree on the GCS server, cost reports written from a sample billing export in the same bucket.
Every figure of the page is checked against one computed here without hub_ops code: MAU
from the test's own record of activity, storage from a walk of the tree, cost from the
export's rows summed with Decimal."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import shutil
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from statistics import median

import dagster as dg
import pyarrow as pa
import pytest
import yaml

from hub_ops.backup.repository import Repository
from hub_ops.backup.snapshot import create_snapshot
from hub_ops.clients.billing import billing_source
from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.storage import Storage
from hub_ops.costs import CostReport
from hub_ops.costs.exports import export_days, export_month, reports_folder
from hub_ops.defs.decommission.records import DECOMMISSIONED, DecommissionRecord
from hub_ops.defs.shared.resources import ClockResource, FleetResource, StorageResource
from hub_ops.defs.usage.assets import community_reports
from hub_ops.defs.usage.schedules import community_requests
from hub_ops.fleet import load_fleet
from hub_ops.usage.activity import UsageLedger, record_hub, user_key
from hub_ops.usage.tables import ledger_folder
from hub_ops_dev.sample_billing import ExportGenerator, write_parquet
from hub_ops_tests.conftest import EXAMPLE_FLEET
from hub_ops_tests.usage.hubs import own_hub_fixture
from hub_ops_tests.usage.trees import total, walk, write_homes

hub = own_hub_fixture()

HUB_ID = "pangeo-hubs/legacy"  # cluster.yaml: retired on 2026-12-14 into prod, notice from 2026-11-30
MONTH, TODAY = dt.date(2026, 11, 1), dt.date(2026, 12, 1)
FIRST_OBSERVED = 15  # 1-14 November: no observation, no daily cost
SNAPSHOTS = [dt.datetime(2026, 10, 31, 2), dt.datetime(2026, 11, 15, 2), dt.datetime(2026, 11, 30, 2)]
AFTER = dt.datetime(2026, 12, 1, 2)  # a snapshot after the month: not in November's page


@dataclass
class World:
    fleet_root: Path
    storage: Storage
    bucket: str
    names: list[str]  # the JupyterHub users (and the homes' folder names)
    active: dict[dt.date, set[str]]  # the test's own record of who was active when
    homes_at_end: dict[str, tuple[int, int]]  # a walk of the tree at the month's last snapshot
    total_at: list[int]  # bytes of the tree at each of SNAPSHOTS
    net_by_day: dict[dt.date, Decimal]  # the hub's rows of the export, summed here


def _net_of_hub(export: pa.Table, gke_cluster: str, namespace: str) -> dict[dt.date, Decimal]:
    """The hub's direct net (cost + credits) per day from the raw rows (sharing: none)."""
    out: dict[dt.date, Decimal] = {}
    for r in export.select(["usage_start_time", "labels", "cost", "credits"]).to_pylist():
        labels = {pair["key"]: pair["value"] for pair in r["labels"] or ()}
        if labels.get("goog-k8s-cluster-name") == gke_cluster and labels.get("k8s-namespace") == namespace:
            day = r["usage_start_time"].astimezone(dt.UTC).date()
            amounts = [r["cost"] or 0.0] + [c["amount"] or 0.0 for c in r["credits"] or ()]
            out[day] = out.get(day, Decimal(0)) + sum((Decimal(repr(a)) for a in amounts), Decimal(0))
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory, gcs_server, hub) -> World:
    import gcsfs

    gcsfs.GCSFileSystem.clear_instance_cache()
    storage = Storage(gcs_endpoint=gcs_server.endpoint, gcs_token="anon")
    bucket = gcs_server.create_bucket(f"community-{secrets.token_hex(4)}")
    root = tmp_path_factory.mktemp("community")
    fleet_root = root / "fleet"
    shutil.copytree(EXAMPLE_FLEET, fleet_root)
    fleet_yaml = fleet_root / "fleet.yaml"
    settings = yaml.safe_load(
        fleet_yaml.read_text()
        .replace("gs://example-fleet-backups", f"gs://{bucket}/backups")
        .replace("gs://example-fleet-reports", f"gs://{bucket}/reports")
        .replace("gs://example-fleet-billing/export/", f"gs://{bucket}/billing/")
        .replace("sharing: proportional", "sharing: none")  # a hub's cost is its own rows: summed here
    )
    # names allowed in the UI: the pages must still carry none (test_no_user_name_reaches_the_pages);
    # set as a key so the fleet's own usage block (start_date) is kept, not duplicated
    settings.setdefault("usage", {})["show_user_names"] = True
    fleet_yaml.write_text(yaml.safe_dump(settings, sort_keys=False))
    fleet = load_fleet(fleet_root)

    # activity: users whose names hold "-" (never part of base64), active on known days
    api = HubApi(hub.api_url, hub.api_token)
    names = [f"quokka-{i}-{secrets.token_hex(3)}" for i in range(7)]
    for name in names:
        api.ensure_user(name)
    ledger = UsageLedger(storage, ledger_folder(fleet.settings.reports.destination))
    active: dict[dt.date, set[str]] = {}
    for day in range(FIRST_OBSERVED, 31):
        users = {names[day % 5], names[(day * 3) % 6]}  # names[6] is never active
        for name in users:
            api.set_activity(name, dt.datetime(2026, 11, day, 9, tzinfo=dt.UTC).isoformat())
        active[dt.date(2026, 11, day)] = users
        record_hub(api, HUB_ID, ledger, at=dt.datetime(2026, 11, day, 10, tzinfo=dt.UTC))

    # homes: folders named as the users; one over 1 MB; snapshots before, during and after the month
    homes = root / "homes"
    repo = Repository.open(f"gs://{bucket}/backups", storage)
    total_at = []
    growth = [{n: [300 * (i + 1), 20] for i, n in enumerate(names)}, {names[0]: [1_200_000]}, {names[3]: [5000]}]
    for when, added in zip(SNAPSHOTS, growth):
        write_homes(homes, added)
        create_snapshot(repo, HUB_ID, homes, now=when.replace(tzinfo=dt.UTC))
        total_at.append(total(homes))
    homes_at_end = walk(homes)
    write_homes(homes, {names[1]: [999]})
    create_snapshot(repo, HUB_ID, homes, now=AFTER.replace(tzinfo=dt.UTC))

    # costs: the export covers 15 Nov - 1 Dec; daily reports for the days it has, the month's report
    export = pa.concat_tables(
        list(ExportGenerator(fleet, seed=7).days(dt.date(2026, 11, FIRST_OBSERVED), 31 - FIRST_OBSERVED + 1, 150))
    )
    fs, path = storage.filesystem(f"gs://{bucket}/billing/export.parquet")
    with fs.open(path, "wb") as sink:
        write_parquet([export], sink)
    folder = reports_folder(fleet.settings.reports.destination)
    source = billing_source(fleet, storage)
    export_days(CostReport.build(source.aggregate(dt.date(2026, 11, FIRST_OBSERVED), TODAY), fleet), storage, folder)
    export_month(CostReport.build(source.aggregate(MONTH, TODAY), fleet), storage, folder)
    gke = fleet.clusters["pangeo-hubs"].gcp.cluster
    net_by_day = {d: v for d, v in _net_of_hub(export, gke, "legacy").items() if d < TODAY}
    return World(fleet_root, storage, bucket, names, active, homes_at_end, total_at, net_by_day)


def materialize(world: World, hub_id: str = HUB_ID, retired_on: str | None = None) -> tuple[dict, str, str]:
    """community_reports for (November, hub); its metadata and the written md and html. With
    `retired_on`, the instance first records the hub's retirement (as decommission_job does)."""
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("hubs", [hub_id.replace("/", ".")])
    if retired_on:
        record = DecommissionRecord(
            hub_id, DECOMMISSIONED, decommissioned_on=retired_on, keep_backups_until="2027-02-28"
        )
        instance.report_runless_asset_event(record.materialization(hub_id.replace("/", "."), "retired"))
    result = dg.materialize(
        [community_reports],
        instance=instance,
        partition_key=dg.MultiPartitionKey({"month": MONTH.isoformat(), "hub": hub_id.replace("/", ".")}),
        resources={
            "fleet": FleetResource(root=str(world.fleet_root)),
            "storage": StorageResource(gcs_endpoint=world.storage.gcs_endpoint, gcs_token="anon"),
            "clock": ClockResource(fixed_date=TODAY.isoformat()),
        },
    )
    assert result.success
    metadata = result.asset_materializations_for_node("community_reports")[0].metadata
    texts = []
    for fmt in ("md", "html"):
        fs, path = world.storage.filesystem(f"gs://{world.bucket}/reports/community/{hub_id}/2026-11.{fmt}")
        with fs.open(path, "rb") as f:
            texts.append(f.read().decode())
    return metadata, texts[0], texts[1]


@pytest.fixture(scope="module")
def legacy(world: World) -> tuple[dict, str, str]:
    """November's page of HUB_ID, materialized once for the module."""
    return materialize(world)


def table_after(markdown: str, first_header: str) -> list[list[str]]:
    """The rows of the markdown table whose header starts with `first_header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} "))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def exact_bytes(cell: str) -> int:
    return int(re.search(r"([\d,]+) bytes", cell).group(1).replace(",", ""))


def test_the_page_matches_figures_computed_independently(world: World, legacy):
    metadata, md, _ = legacy
    observed = sorted(world.active)
    mau = len(set().union(*world.active.values()))
    people = table_after(md, "monthly active users")[0]
    assert people[0] == str(mau) == "5"
    assert people[1] == f"{len(observed)} of 30"
    per_day = {d: len(u) for d, u in world.active.items()}
    busiest = max(observed, key=lambda d: (per_day[d], -d.toordinal()))
    assert people[2] == f"{busiest} ({per_day[busiest]} users)"
    assert "No observation of the hub for 14 of 30 days (1-14 Nov)" in md

    by_day = {dt.date.fromisoformat(r[0]): r for r in table_after(md, "date")}
    assert sorted(by_day) == [MONTH + dt.timedelta(days=i) for i in range(30)]
    for day, row in by_day.items():
        if day.day < FIRST_OBSERVED:  # unknown days are blank, never 0
            assert row[1:] == ["", "", "", "", ""], day
            continue
        assert row[1] == str(len(world.active[day])), day
        assert abs(float(row[4].replace(",", "")) - float(world.net_by_day[day])) <= 0.01, day
    assert "No daily cost figure for 14 of 30 days (1-14 Nov)" in md

    month_net = float(sum(world.net_by_day.values()))
    cost = table_after(md, "net cost of the month")[0]
    assert abs(float(cost[0].split()[0].replace(",", "")) - month_net) <= 0.01
    assert abs(float(cost[1].split()[0].replace(",", "")) - month_net / mau) <= 0.01
    assert cost[2] == "16 of 30"

    homes = table_after(md, "homes")[0]
    sizes = sorted(b for b, _ in world.homes_at_end.values())
    assert homes[0] == str(len(world.homes_at_end)) == "7"
    assert exact_bytes(homes[1]) == world.total_at[-1]  # the 30 Nov snapshot, not 1 Dec's
    assert homes[2] == f"{sum(f for _, f in world.homes_at_end.values()) + 1:,}"  # + the top-level README
    assert exact_bytes(homes[3]) == world.total_at[-1] - world.total_at[0]  # since 31 Oct
    assert exact_bytes(homes[4]) == int(median(sizes))
    bands = dict(table_after(md, "home size"))
    assert bands["under 1 MB"] == str(sum(1 for s in sizes if s < 10**6)) == "6"
    assert bands["1-100 MB"] == "1" and bands["10 GB or more"] == "0"

    assert "Decommission notice: this hub is retired on 2026-12-14 (in 13 days); homes move to prod" in md
    assert md.count("](data:image/png;base64,iVBORw0KGgo") == 3  # users, cost, storage charts
    # the UI shows the same page, links to the files and the figures as numbers
    assert metadata["page"].value == md
    assert metadata["markdown"].value.endswith(f"/{world.bucket}/reports/community/{HUB_ID}/2026-11.md")
    assert metadata["active_users"].value == mau and metadata["home_bytes"].value == world.total_at[-1]
    largest = [(r.data["user"], r.data["bytes"]) for r in metadata["largest_homes"].value.records]
    by_size = sorted(world.homes_at_end, key=lambda n: (-world.homes_at_end[n][0], n))
    assert largest == [(n, world.homes_at_end[n][0]) for n in by_size]  # the UI only; show_user_names is on


def test_no_user_name_reaches_the_pages(world: World, legacy):
    metadata, md, html = legacy
    ui_table = str([r.data for r in metadata["largest_homes"].value.records])
    assert all(name in ui_table for name in world.names)  # names were at hand: only the UI shows them
    for name in world.names:
        assert name not in md and name not in html, name
        assert user_key(HUB_ID, name) not in md + html  # nor as hashes: counts only


def test_a_recorded_retirement_is_read_from_the_decommission_records(world: World):
    _, md, _ = materialize(world, retired_on="2026-11-30")
    expected = "Retirement recorded: decommissioned on 2026-11-30 (planned for 2026-12-14); homes move to prod; "
    assert expected + "backups are kept until 2027-02-28." in md


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_html_page_is_standalone(legacy):
    _, _, html = legacy
    parser = _Links()
    parser.feed(html)
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert len(images) == 3 and all(a["src"].startswith("data:image/png;base64,iVBORw0KGgo") for a in images)
    for tag, attrs in parser.tags:
        assert tag not in ("link", "script", "iframe"), tag
        for key in ("src", "href"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(key) or ""), (tag, attrs.get(key, "")[:80])
    assert "url(" not in html and "@import" not in html  # the inline style fetches nothing


def test_a_hub_without_data_says_so_instead_of_zeros(world: World):
    _, md, _ = materialize(world, "local-demo/workshop")  # not in the export, never observed, no backups
    assert "No activity was recorded for this hub in November 2026" in md
    assert "the month's cost and cost per active user are unknown" in md
    assert "No daily cost figure for this hub on any day of November 2026" in md
    assert "No backup snapshot of this hub's homes in November 2026" in md
    assert "Decommission notice" not in md and "data:image" not in md
    assert all(row[1:] == ["", "", "", "", ""] for row in table_after(md, "date"))


def test_the_schedule_asks_for_each_hub_on_the_first():
    when = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", ["pangeo-hubs.prod", "pangeo-hubs.legacy", "pangeo-hubs.staging"])
        # staging retired before November: no page; legacy retired during it: its last page
        for hub_key, on in (("pangeo-hubs.staging", "2026-10-20"), ("pangeo-hubs.legacy", "2026-11-20")):
            record = DecommissionRecord(hub_key.replace(".", "/"), DECOMMISSIONED, decommissioned_on=on)
            instance.report_runless_asset_event(record.materialization(hub_key, "retired"))
        requests = community_requests(dg.build_schedule_context(instance=instance, scheduled_execution_time=when))
    assert [(r.partition_key.keys_by_dimension, r.run_key) for r in requests] == [
        ({"month": "2026-11-01", "hub": h}, f"community_reports:2026-11:{h}")
        for h in ("pangeo-hubs.legacy", "pangeo-hubs.prod")
    ]


def test_lineage_names_the_month_of_each_record_the_page_reads():
    from hub_ops.defs.costs.assets import daily_partitions as cost_days
    from hub_ops.defs.costs.assets import monthly_partitions
    from hub_ops.defs.usage.assets import community_partitions, daily_partitions

    upstreams = {
        "hub_usage": daily_partitions,
        "home_storage": daily_partitions,
        "hub_daily_costs": cost_days,
        "monthly_cost_report": monthly_partitions,
    }
    assert {k.to_user_string() for k in community_reports.dependency_keys} == set(upstreams)
    november = [f"2026-11-{d:02d}" for d in range(1, 31)]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", ["pangeo-hubs.legacy"])
        page = community_partitions.empty_subset().with_partition_keys(
            [dg.MultiPartitionKey({"month": "2026-11-01", "hub": "pangeo-hubs.legacy"})]
        )
        for key, upstream in upstreams.items():
            mapping = community_reports.get_partition_mapping(dg.AssetKey(key))
            mapped = mapping.get_upstream_mapped_partitions_result_for_partitions(
                page, community_partitions, upstream, dynamic_partitions_store=instance
            ).partitions_subset.get_partition_keys()
            assert sorted(mapped) == (["2026-11-01"] if key == "monthly_cost_report" else november), key
