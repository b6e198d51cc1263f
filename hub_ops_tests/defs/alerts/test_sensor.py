"""alerts_sensor on a real Dagster instance, evaluated tick by tick as the daemon does (the
cursor of one tick handed to the next, its asset events recorded), at times the test sets.

Runs: the backup scenarios execute the real user_home_backups_job of hub_ops (the real
backup engine, failing on a hub whose home volume is missing); the deploy failure and the
WARN check are small stand-in jobs with the real job/check names and tags (a real deploy
needs the cluster stack; what the sensor reads is the same run record and events).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import yaml

from hub_ops.defs.alerts.assets import (
    ALERT_INCIDENTS,
    deliveries_table,
    latest_incidents_record,
    open_alerts_by_subject,
)
from hub_ops.defs.alerts.resources import AlertDeliveryResource
from hub_ops.defs.alerts.sensors import evaluate_alerts, read_cursor
from hub_ops.defs.backups.partitions import backup_partition_key
from hub_ops.defs.shared.resources import (
    BackupRunnerResource,
    FleetResource,
    KubeResource,
    SopsResource,
    StorageResource,
)
from hub_ops_tests.alerts.fleets import HMAC_KEY, SLACK_TOKEN, fleet_secret, write_alerts
from hub_ops_tests.defs.backups.conftest import make_homes
from hub_ops_tests.defs.domain import definitions_with
from hub_ops_tests.tables import rows

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
NIGHT1 = dt.datetime(2026, 3, 2, 2, 30, tzinfo=dt.UTC)  # the nightly run finished; the sensor's next tick
DAY = dt.timedelta(days=1)


class Daemon:
    """Evaluates alerts_sensor as the daemon does: the previous tick's cursor in, asset
    events recorded into the instance; a fresh context (a restarted daemon) every tick."""

    def __init__(self, instance: dg.DagsterInstance, fleet_root: Path, backoff_s: float = 0.01):
        self.instance = instance
        sops = SopsResource(age_key_file=str(fleet_root / "demo.agekey"))
        self.resources = {
            "fleet": FleetResource(root=str(fleet_root)),
            "sops": sops,
            "alert_delivery": AlertDeliveryResource(backoff_s=backoff_s),
        }
        self.cursor: str | None = None

    def tick(self, now: dt.datetime):
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor)
        result = evaluate_alerts(context, now=now, **self.resources)
        self.cursor = result.cursor
        for event in result.asset_events or []:
            self.instance.report_runless_asset_event(event)
        return result


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hubs", ["local-demo.staging", "local-demo.workshop"])
        yield instance


def routes(receiver, **extra) -> list[dict]:
    return [
        {"name": "ops-slack", "slack": {"webhook": "alerts.secret.yaml#slack_webhook"}},
        {"name": "pager", "webhook": {"url": f"{receiver.url}/pager", "secret": "alerts.secret.yaml#hmac"}},
        *extra.get("more", []),
    ]


def secrets(receiver) -> dict:
    return {"slack_webhook": f"{receiver.url}/slack/{SLACK_TOKEN}", "hmac": HMAC_KEY}


class BackupNights:
    """The real nightly backup of local-demo/staging (the real asset and backup engine), on
    nights where the hub's home volume is missing (a file stands where its folder should be:
    the engine refuses it at once, without the step's 5-minute retries) or back in place."""

    def __init__(self, fleet_root: Path, tmp_path: Path, instance):
        settings = yaml.safe_load((fleet_root / "fleet.yaml").read_text())
        settings["backups"]["destination"] = f"file://{tmp_path}/backups"
        (fleet_root / "fleet.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        sops = SopsResource(age_key_file=str(fleet_root / "demo.agekey"))
        resources = {
            "fleet": FleetResource(root=str(fleet_root)),
            "storage": StorageResource(local_root=str(tmp_path / "data")),
            "backup_runner": BackupRunnerResource(kube=KubeResource(sops=sops)),
            "kube": KubeResource(sops=sops),
            "sops": sops,
        }
        self.job = definitions_with(resources).resolve_job_def("user_home_backups_job")
        self.instance = instance
        self.homes = (fleet_root / ".." / ".data" / "homes" / "local-demo" / "staging").resolve()
        self.aside = tmp_path / "homes-unmounted"
        make_homes(self.homes)

    def run(self, date: str, homes_mounted: bool) -> dg.ExecuteInProcessResult:
        if homes_mounted and self.aside.exists():
            self.homes.unlink()
            self.aside.rename(self.homes)
        if not homes_mounted and not self.aside.exists():
            self.homes.rename(self.aside)
            self.homes.write_text("not a folder: the home volume is not mounted\n")
        return self.job.execute_in_process(
            instance=self.instance,
            partition_key=backup_partition_key(date, "local-demo.staging"),
            tags={"hub_ops/hub": "local-demo.staging", "hub_ops/kind": "backup"},
            run_config=QUIET,
            raise_on_error=False,
        )


def test_a_backup_failing_two_nights_then_passing_is_one_alert_one_reminder_one_resolved(
    example_fleet, tmp_path, instance, http_receiver
):
    write_alerts(
        example_fleet,
        {"ui_url": "https://hub-ops.example.org", "repeat_after": "24h", "routes": routes(http_receiver)},
        secrets(http_receiver),
    )
    nights = BackupNights(example_fleet, tmp_path, instance)
    daemon = Daemon(instance, example_fleet)
    daemon.tick(NIGHT1 - DAY)  # the daemon was already watching

    first = nights.run("2026-11-01", homes_mounted=False)
    assert not first.success
    ticks = [NIGHT1, NIGHT1 + 6 * dt.timedelta(hours=1)]
    for now in ticks:
        daemon.tick(now)
    second = nights.run("2026-11-02", homes_mounted=False)
    assert not second.success
    for now in (NIGHT1 + DAY, NIGHT1 + DAY + dt.timedelta(hours=6)):
        daemon.tick(now)
    third = nights.run("2026-11-03", homes_mounted=True)
    assert third.success
    for now in (NIGHT1 + 2 * DAY, NIGHT1 + 3 * DAY):
        daemon.tick(now)

    # each night's run also evaluates the fleet-wide `fresh` check (the workshop hub has never
    # been backed up): that is another incident, of another source
    everything = [r.json() for r in http_receiver.at("/pager")]
    assert {b["incident"]["source"] for b in everything} == {
        "run:user_home_backups_job",
        "check:user_home_backups:fresh",
    }
    pager = [b for b in everything if b["incident"]["source"] == "run:user_home_backups_job"]
    assert [b["event"] for b in pager] == ["raised", "reminder", "resolved"]
    slack = [r.json() for r in http_receiver.at(f"/slack/{SLACK_TOKEN}")]
    slack = [b for b in slack if "user_home_backups_job" in b["text"]]
    assert len(slack) == 3
    raised, reminder, resolved = (b["incident"] for b in pager)
    assert raised["id"] == reminder["id"] == resolved["id"], "one incident"
    assert raised["subject"] == "local-demo/staging" and raised["kind"] == "backup"
    assert raised["link"] == f"https://hub-ops.example.org/runs/{first.run_id}"
    assert reminder["link"] == f"https://hub-ops.example.org/runs/{second.run_id}"
    assert reminder["failures"] == 2
    # the error text is the failed step's, read from the run's STEP_FAILURE event
    assert raised["detail"] == (
        f"step user_home_backups: local-demo/staging: {nights.homes}: not a folder "
        "(the hub's home directories are expected there)"
    )
    assert resolved["resolved_at"] is not None
    assert "Next" not in slack[2]["blocks"][1]["fields"][-1]["text"], "a resolved message asks nothing more"

    record = latest_incidents_record(instance)
    assert record["open_incidents"] == 1, "the `fresh` incident stays open"
    [incident_row] = rows(record["incidents"])
    assert "check fresh of user_home_backups failed" in incident_row["what"]
    assert open_alerts_by_subject(instance) == {incident_row["where"]: 1}
    recorded = instance.fetch_observations(dg.AssetRecordsFilter(asset_key=ALERT_INCIDENTS), limit=100).records
    deliveries = [row for r in recorded for row in rows(r.asset_observation.metadata["deliveries"])]
    sent = [(d["event"], d["what"], d["route"], d["channel"], d["ok"], d["attempts"]) for d in deliveries]
    what = "user_home_backups_job failed for local-demo/staging"
    for event in ("raised", "reminder", "resolved"):
        for route, channel in (("ops-slack", "slack"), ("pager", "webhook")):
            assert sent.count((event, what, route, channel, True, 1)) == 1, (event, route)


def test_a_route_answering_500_is_retried_and_recorded_and_the_run_is_unchanged(
    example_fleet, tmp_path, instance, http_receiver
):
    broken = {"name": "broken", "webhook": {"url": f"{http_receiver.url}/broken"}}
    write_alerts(
        example_fleet,
        {"delivery_attempts": 3, "routes": routes(http_receiver, more=[broken])},
        secrets(http_receiver),
    )
    http_receiver.status["/broken"] = 500
    nights = BackupNights(example_fleet, tmp_path, instance)
    daemon = Daemon(instance, example_fleet)
    daemon.tick(NIGHT1 - DAY)
    failed = nights.run("2026-11-01", homes_mounted=False)
    before = instance.get_run_by_id(failed.run_id)
    logs_before = len(instance.all_logs(failed.run_id))

    result = daemon.tick(NIGHT1)  # does not raise

    assert len(http_receiver.at("/broken")) == 3, "three attempts"
    assert len(http_receiver.at("/pager")) == 1 and len(http_receiver.at(f"/slack/{SLACK_TOKEN}")) == 1
    after = instance.get_run_by_id(failed.run_id)
    assert after.status == before.status == dg.DagsterRunStatus.FAILURE
    assert len(instance.all_logs(failed.run_id)) == logs_before, "nothing written into the run"
    record = latest_incidents_record(instance)
    assert record["deliveries_failed"] == 1 and record["failing_routes"] == "broken"
    broken_rows = [r for r in rows(record["deliveries"]) if r["route"] == "broken"]
    assert [(r["channel"], r["ok"], r["attempts"], r["answer"][:8]) for r in broken_rows] == [
        ("webhook", False, 3, "HTTP 500")
    ]
    assert "broken" in str(result.skip_reason) or "2 of 3 deliveries ok" in str(result.skip_reason)
    # the incident is open and recorded; the next tick does not send it again
    [incident] = read_cursor(daemon.cursor)[1].values()
    assert incident.subject == "local-demo/staging"
    daemon.tick(NIGHT1 + dt.timedelta(minutes=1))
    assert len(http_receiver.at("/pager")) == 1


@dg.op(tags={"hub_ops/kind": "helm"})
def deploy_prod(context) -> None:
    raise dg.Failure(description=context.op_config["error"])


def test_a_deploy_failure_carries_the_hubs_error_without_the_fleets_secrets(
    example_fleet, instance, http_receiver, smtp_server
):
    token = fleet_secret(
        example_fleet,
        "clusters/pangeo-hubs/enc-prod.secret.values.yaml",
        *"basehub jupyterhub hub services hub-ops apiToken".split(),
    )
    email = {
        "name": "pangeo-contacts",
        "email": {
            "smtp": smtp_server.address,
            "from": "hub-ops@example.org",
            "to": ["pangeo-ops@example.org"],
            "login": "alerts.secret.yaml#smtp",
        },
        "match": {"cluster": ["pangeo-hubs"], "kind": ["deploy", "backup"]},
    }
    write_alerts(
        example_fleet,
        {"ui_url": "https://hub-ops.example.org", "routes": routes(http_receiver, more=[email])},
        {**secrets(http_receiver), "smtp": {"username": smtp_server.username, "password": smtp_server.password}},
    )
    daemon = Daemon(instance, example_fleet)
    daemon.resources["alert_delivery"] = AlertDeliveryResource(backoff_s=0.01, smtp_ca_file=str(smtp_server.ca_file))
    daemon.tick(NIGHT1 - DAY)

    # a job with deploy_job's name and tags, whose step fails the way a helm error quoting a
    # rendered Secret would
    error = (
        'pangeo-hubs/prod: helm upgrade failed: Secret "hub" is invalid: '
        f'stringData[services.hub-ops.apiToken]: Invalid value: "{token}": must be no more than 32 characters'
    )
    job = dg.GraphDefinition(name="deploy_job", node_defs=[deploy_prod]).to_job(tags={"hub_ops/kind": "deploy"})
    result = job.execute_in_process(
        instance=instance,
        run_config={"ops": {"deploy_prod": {"config": {"error": error}}}, **QUIET},
        tags={"hub_ops/cluster": "pangeo-hubs"},
        raise_on_error=False,
    )
    assert not result.success
    daemon.tick(NIGHT1)

    [slack] = http_receiver.at(f"/slack/{SLACK_TOKEN}")
    [pager] = http_receiver.at("/pager")
    [mail] = smtp_server.messages
    texts = {
        "slack": slack.body.decode(),
        "pager": pager.body.decode(),
        "mail": mail.as_string(),
        "record": str(latest_incidents_record(instance)),
    }
    for where, text in texts.items():
        assert token not in text, where
    body = pager.json()["incident"]
    assert "step deploy_prod: pangeo-hubs/prod: helm upgrade failed: Secret" in body["detail"]
    assert 'Invalid value: \\"***\\"' in texts["slack"] or 'Invalid value: "***"' in body["detail"]
    assert body["kind"] == "deploy" and body["subject"] == "pangeo-hubs"
    assert mail.get_body(("plain",)).get_content().count("helm upgrade failed") == 1
    assert f"https://hub-ops.example.org/runs/{result.run_id}" in mail.get_body(("html",)).get_content()


def test_a_check_at_warn_goes_only_to_routes_that_match_warn(example_fleet, instance, http_receiver):
    write_alerts(
        example_fleet,
        {
            "routes": [
                {"name": "errors", "webhook": {"url": f"{http_receiver.url}/errors"}, "match": {"severity": ["error"]}},
                {
                    "name": "warnings",
                    "webhook": {"url": f"{http_receiver.url}/warnings"},
                    "match": {"severity": ["warn"]},
                },
                {"name": "backups", "webhook": {"url": f"{http_receiver.url}/backups"}, "match": {"kind": ["backup"]}},
            ]
        },
    )
    daemon = Daemon(instance, example_fleet)
    daemon.tick(NIGHT1 - DAY)

    @dg.asset(name="clusters", check_specs=[dg.AssetCheckSpec("upgrades_and_support", asset="clusters")])
    def clusters_stand_in():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(
            check_name="upgrades_and_support",
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="pangeo-hubs runs 1.29: end of standard support on 2026-04-01",
        )

    assert dg.materialize([clusters_stand_in], instance=instance, raise_on_error=False)
    daemon.tick(NIGHT1)

    assert [r.path for r in http_receiver.requests] == ["/warnings"]
    body = http_receiver.requests[0].json()
    assert body["incident"]["severity"] == "warn" and body["incident"]["kind"] == "clusters"
    assert body["incident"]["source"] == "check:clusters:upgrades_and_support"
    assert "end of standard support" in body["incident"]["detail"]
    assert body["incident"]["link"].endswith("/assets/clusters?view=checks")


def test_nothing_to_send_is_an_empty_table_with_its_columns():
    empty = deliveries_table([], [])
    assert rows(empty) == []
    assert [c.name for c in empty.schema.columns] == ["event", "what", "route", "channel", "ok", "attempts", "answer"]
