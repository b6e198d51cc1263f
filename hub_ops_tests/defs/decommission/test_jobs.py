"""decommission_job on the local stack: the whole flow, each gate leaving the hub untouched,
notices, reruns, and expiring backups."""

import filecmp

import dagster as dg

from hub_ops.backup import Repository
from hub_ops.clients.clusters import cluster_access
from hub_ops.clients.helm import HelmClient
from hub_ops.clients.jupyterhub import HubApi
from hub_ops.clients.kube import KubeClient
from hub_ops.clients.sops import Sops
from hub_ops.defs.decommission.assets import DECOMMISSION_NOTICES
from hub_ops.defs.decommission.records import decommission_records, decommissioned_hubs
from hub_ops.fleet import load_fleet
from hub_ops_tests.defs.decommission.conftest import write_homes
from hub_ops_tests.tables import rows


def live(retiring, age_key):
    fleet = load_fleet(retiring.repo.root)
    access = cluster_access(fleet, fleet.clusters["alpha"], Sops(str(age_key.path)))
    return HelmClient(access), KubeClient(access)


def untouched(retiring, age_key) -> None:
    helm, kube = live(retiring, age_key)
    ns = retiring.repo.namespace("alpha", "legacy")
    assert helm.current("legacy", ns).status == "deployed" and kube.namespace_exists(ns)
    assert not (retiring.prod_home / "alice").exists()
    helm.close()


def failure_text(result) -> str:
    return "\n".join(
        e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )


def test_the_whole_flow_then_a_rerun_does_nothing(retiring, age_key, gcs_storage):
    with dg.instance_for_test() as instance:
        result = retiring.run(instance)
        assert result.success, failure_text(result)
        # homes migrated, byte-identical, beside what prod had
        assert filecmp.cmp(
            retiring.legacy_home / "alice/data/big.bin", retiring.prod_home / "alice/data/big.bin", shallow=False
        )
        assert (retiring.prod_home / "bob/notes.md").read_text() == "caf\u00e9 notes\n"
        assert (retiring.prod_home / "alice/latest.ipynb").is_symlink()
        assert (retiring.prod_home / "carol/work.py").exists()
        helm, kube = live(retiring, age_key)
        ns = retiring.repo.namespace("alpha", "legacy")
        assert helm.current("legacy", ns) is None and not kube.namespace_exists(ns)
        assert helm.current("prod", retiring.repo.namespace("alpha", "prod")).status == "deployed"
        helm.close()
        record = decommission_records(instance)["alpha/legacy"]
        assert record.state == "decommissioned" and record.decommissioned_on == "2026-12-14"
        assert record.keep_backups_until == "2027-01-13" and record.successor == "alpha/prod"
        steps = dict(record.steps)
        # a native table of (step, result) rows, in the order the steps ran
        done = ["gate_no_running_servers", "final_backup", "verify_final_backup", "migrate_homes", "verify_migration"]
        assert [s for s in steps if s in done + ["uninstall_release", "delete_hub_namespace"]] == done + [
            "uninstall_release",
            "delete_hub_namespace",
        ]
        assert steps["verify_migration"].startswith("4/4 files")
        assert "uninstalled" in steps["uninstall_release"] and "deleted" in steps["delete_hub_namespace"]
        assert decommissioned_hubs(instance) == {"alpha/legacy": "decommissioned on 2026-12-14"}
        repo = Repository.open(f"gs://{retiring.bucket}/backups", gcs_storage)
        assert len(repo.snapshot_ids("alpha/legacy")) == 1

        again = retiring.run(instance)
        assert again.success
        assert [e.step_key for e in again.all_events if e.event_type_value == "STEP_SUCCESS"] == ["plan_decommission"]
        assert len(repo.snapshot_ids("alpha/legacy")) == 1


def test_a_running_server_closes_the_gate(retiring, age_key, jupyterhub_server):
    api = HubApi(jupyterhub_server.api_url, jupyterhub_server.api_token)
    api.ensure_user("still-working")
    api.start_server("still-working", timeout=60)
    try:
        with dg.instance_for_test() as instance:
            result = retiring.run(instance)
            assert not result.success
            text = failure_text(result)
            assert "gate closed: 1 user server(s) running: still-working (JupyterHub API)" in text
            assert "Nothing was changed" in text
            untouched(retiring, age_key)
            assert decommission_records(instance) == {}
    finally:
        api.stop_server("still-working")


def test_a_corrupted_blob_fails_deep_verification(retiring, age_key, gcs_storage):
    with dg.instance_for_test() as instance:
        from hub_ops.backup import create_snapshot

        repo = Repository.open(f"gs://{retiring.bucket}/backups", gcs_storage)
        create_snapshot(repo, "alpha/legacy", retiring.legacy_home)  # last night's backup
        fs, root = gcs_storage.filesystem(f"gs://{retiring.bucket}/backups")
        stored = sorted(
            (p for p in fs.find(root) if "/blobs/" in p or "/packs/" in p), key=lambda p: fs.info(p)["size"]
        )
        victim = stored[-1]
        data = bytearray(fs.cat(victim))
        data[len(data) // 2] ^= 0xFF
        fs.pipe(victim, bytes(data))
        result = retiring.run(instance)
        assert not result.success
        assert "failed deep verification; nothing was deleted" in failure_text(result)
        untouched(retiring, age_key)


def test_files_that_differ_in_the_successor_stop_the_migration(retiring, age_key):
    write_homes(retiring.prod_home, {"bob/notes.md": b"bob's newer notes on prod\n"})
    with dg.instance_for_test() as instance:
        result = retiring.run(instance)
        assert not result.success
        assert "1 migrated path(s) exist differently in alpha/prod's homes (e.g. bob/notes.md)" in failure_text(result)
        helm, kube = live(retiring, age_key)
        assert helm.current("legacy", retiring.repo.namespace("alpha", "legacy")).status == "deployed"
        helm.close()
        assert (retiring.prod_home / "bob/notes.md").read_bytes() == b"bob's newer notes on prod\n"
        # the operator decides: overwrite, with a reason that is recorded
        result = retiring.run(instance, overwrite_in_successor_reason="bob asked for his legacy notes")
        assert result.success, failure_text(result)
        steps = dict(decommission_records(instance)["alpha/legacy"].steps)
        assert any("overwrote 1: bob asked for his legacy notes" in result for result in steps.values())


def test_notice_then_early_refusal_then_backups_expire(retiring, age_key, gcs_storage):
    with dg.instance_for_test() as instance:
        notice = retiring.run(instance, dry_run=True, today="2026-12-01")
        assert notice.success
        mats = [
            e.event_specific_data.materialization
            for e in notice.all_events
            if e.event_type_value == "ASSET_MATERIALIZATION"
        ]
        assert [m.asset_key for m in mats] == [DECOMMISSION_NOTICES]
        report = {row["what"]: row["detail"] for row in rows(mats[0].metadata["report"])}
        assert report["retired on"] == "2026-12-14 (in 13 days; notice from 2026-11-30)"
        assert report["homes migrated into"].startswith("alpha/prod")
        ns = retiring.repo.namespace("alpha", "legacy")
        assert report["helm release uninstalled"] == f"legacy in namespace {ns} of alpha"
        assert "active users, last 30 days" in report and report["cost"] == "no cost report yet"
        untouched(retiring, age_key)

        early = retiring.run(instance, today="2026-12-01")
        assert not early.success and "due on 2026-12-14 (13 days left)" in failure_text(early)
        untouched(retiring, age_key)

        assert retiring.run(instance).success
        # once retired, the notice says so instead of "in 13 days"
        latest = (
            instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=DECOMMISSION_NOTICES), limit=1)
            .records[0]
            .asset_materialization
        )
        assert latest.description == "alpha/legacy was retired on 2026-12-14"
        assert {r["what"]: r["detail"] for r in rows(latest.metadata["report"])}["retired on"] == "2026-12-14"
        repo = Repository.open(f"gs://{retiring.bucket}/backups", gcs_storage)
        assert repo.snapshot_ids("alpha/legacy")
        kept = retiring.run(instance, today="2027-01-12")  # backups kept until 2027-01-13
        assert kept.success and repo.snapshot_ids("alpha/legacy")
        expired = retiring.run(instance, today="2027-01-13")
        assert expired.success
        assert repo.snapshot_ids("alpha/legacy") == []
        assert decommission_records(instance)["alpha/legacy"].state == "backups expired"
        assert instance.get_latest_materialization_event(dg.AssetKey("hub_decommissions")) is not None
