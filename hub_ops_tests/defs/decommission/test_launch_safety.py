"""What a Launchpad can and cannot do to a run (Dagster OSS has no login: anyone who reaches
the UI can launch). A decommission is a dry run unless it says otherwise; the date and the
resources' safety settings come from the deployment, never from run config; a run that
changes a hub carries that hub's `hub_ops/hub` tag or stops before changing anything."""

import datetime as dt

import dagster as dg
import pytest

from hub_ops.definitions import defs
from hub_ops.defs.decommission.jobs import decommission_job
from hub_ops.settings import Settings, SettingsError
from hub_ops_tests.defs.decommission.conftest import PARTITION, clock
from hub_ops_tests.defs.decommission.test_jobs import failure_text, untouched

# resource -> a field that weakens safety when a run may set it
WEAKENING = {
    "hub_api": {"verify_tls": False},
    "sops": {"age_key_file": "/tmp/attacker.agekey"},
    "backup_runner": {"image": "evil:latest", "service_account_name": "bucket-admin", "pod_env": {"X": "1"}},
    "fleet": {"root": "/tmp/another-fleet"},
    "kube": {"lease_ttl_s": 1, "lease_wait_s": 0},
    "clock": {"fixed_date": "2099-01-01"},
    "storage": {"gcs_endpoint": "http://127.0.0.1:9"},
}
PLAN = {"ops": {"plan_decommission": {"config": {}}}}


def test_a_manual_decommission_is_a_dry_run_unless_it_says_otherwise():
    job = defs().resolve_job_def("decommission_job")
    assert dg.validate_run_config(job, PLAN)["ops"]["plan_decommission"]["config"]["dry_run"] is True
    # the Launchpad's starting point for a hub partition says so too, and tags the run with the hub
    assert job.partitioned_config.get_run_config_for_partition_key(PARTITION) == {
        "ops": {"plan_decommission": {"config": {"dry_run": True}}}
    }
    hub = PARTITION.replace(".", "/", 1)  # the tag spells the hub as people read it
    assert job.partitioned_config.get_tags_for_partition_key(PARTITION)["hub_ops/hub"] == hub


def test_today_is_not_run_config():
    job = defs().resolve_job_def("decommission_job")
    with pytest.raises(dg.DagsterInvalidConfigError, match="today"):
        dg.validate_run_config(job, {"ops": {"plan_decommission": {"config": {"today": "2099-01-01"}}}})


@pytest.mark.parametrize("resource", sorted(WEAKENING))
@pytest.mark.parametrize("job_name", ["decommission_job", "restore_homes_job", "migrate_homes_job"])
def test_a_run_cannot_change_a_resource_setting(job_name, resource):
    job = defs().resolve_job_def(job_name)
    assert resource in job.resource_defs
    with pytest.raises(dg.DagsterInvalidConfigError, match=resource):
        dg.validate_run_config(job, {"resources": {resource: {"config": WEAKENING[resource]}}})


def test_the_clock_comes_from_hub_ops_today_and_never_in_production():
    assert Settings.from_environ({"HUB_OPS_TODAY": "2026-12-14"}).today == dt.date(2026, 12, 14)
    assert Settings.from_environ({}).today is None
    with pytest.raises(SettingsError, match="HUB_OPS_TODAY is set: .* production reads the real date"):
        Settings.from_environ({"HUB_OPS_ENV": "production", "HUB_OPS_TODAY": "2099-01-01"})
    with pytest.raises(SettingsError, match="HUB_OPS_TODAY='tomorrow': expected a date"):
        Settings.from_environ({"HUB_OPS_TODAY": "tomorrow"})


def test_the_definitions_clock_reads_hub_ops_today(monkeypatch):
    monkeypatch.setenv("HUB_OPS_TODAY", "2026-12-14")
    assert defs().resources["clock"].settings_value.today() == dt.date(2026, 12, 14)
    monkeypatch.delenv("HUB_OPS_TODAY")
    assert defs().resources["clock"].settings_value.today() == dt.datetime.now(dt.UTC).date()


def test_a_hub_is_not_retired_before_its_date_without_a_reason(retiring, age_key):
    with dg.instance_for_test() as instance:
        early = retiring.run(instance, today="2026-12-13")
        assert not early.success
        assert "due on 2026-12-14 (1 days left); give ahead_of_date_reason" in failure_text(early)
        untouched(retiring, age_key)


# another hub; this hub in the partition key's spelling (dagster.yaml would count it apart); none
@pytest.mark.parametrize("hub_tag", ["alpha/prod", "alpha.legacy", None])
def test_a_run_whose_hub_tag_is_not_its_partition_changes_nothing(retiring, age_key, hub_tag):
    """Launchpad tags are editable: a run launched for legacy's partition with another hub's
    tag (or none) would not be held back by dagster.yaml's one-run-per-hub limit."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.api import execute_run

    job = decommission_job.with_top_level_resources(
        {k: v.get_resource_definition() for k, v in {**retiring.resources, "clock": clock()}.items()}
    )
    tags = {"dagster/partition": PARTITION, **({"hub_ops/hub": hub_tag} if hub_tag else {})}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", [PARTITION])
        run_config = {
            "ops": {"plan_decommission": {"config": {"dry_run": False}}},
            "execution": {"config": {"in_process": {}}},
        }
        run = instance.create_run_for_job(job_def=job, run_config=run_config, tags=tags)
        result = execute_run(InMemoryJob(job), run, instance)
        assert not result.success
        errors = [e.event_specific_data.error.message for e in result.all_events if e.is_step_failure]
        assert f"its hub_ops/hub tag is {hub_tag!r}" in "\n".join(errors)
        untouched(retiring, age_key)


def test_a_run_without_a_hub_partition_changes_nothing(retiring, age_key):
    with dg.instance_for_test() as instance:
        result = (
            defs()
            .resolve_job_def("decommission_job")
            .execute_in_process(
                run_config={"ops": {"plan_decommission": {"config": {"dry_run": False}}}},
                instance=instance,
                resources={**retiring.resources, "clock": clock()},
                raise_on_error=False,
            )
        )
        assert not result.success
        assert "launch it for a partition of `hubs`" in failure_text(result)
        untouched(retiring, age_key)
