"""`fleet_status`: the operator's first page, one row per hub, failing rows first.

It reads what the other assets recorded, each through the typed reader beside its writer
(never by metadata key), and recomputes whenever one of them records something new
(declarative automation) and at least hourly, so ages and due dates stay true.
"""

import datetime as dt

import dagster as dg

from hub_ops.backup.config import backups_enabled
from hub_ops.backup.repository import snapshot_time
from hub_ops.defs.alerts.assets import ALERT_INCIDENTS, open_alerts_by_subject
from hub_ops.defs.backups.assets import latest_backups, user_home_backups
from hub_ops.defs.costs.assets import hub_daily_costs, hub_net_by_day
from hub_ops.defs.decommission.assets import HUB_DECOMMISSIONS
from hub_ops.defs.decommission.records import decommission_records
from hub_ops.defs.deploy.assets import HUB_RELEASES, latest_hub_release
from hub_ops.defs.deploy.checks import latest_sync_states
from hub_ops.defs.shared.metadata import table
from hub_ops.defs.shared.resources import FleetResource
from hub_ops.fleet import Fleet
from hub_ops.fleet.status import COLUMNS, Backup, HubFacts, Release
from hub_ops.fleet.status import fleet_status as status_of

COST_DAYS = 30

# recompute when any summarized asset records something, and hourly (ages, due dates)
AUTOMATION = (
    dg.AutomationCondition.cron_tick_passed("0 * * * *", "UTC") | dg.AutomationCondition.any_deps_updated()
) & ~dg.AutomationCondition.in_progress()


def _cost_sums(instance: dg.DagsterInstance, today: dt.date) -> tuple[dict[str, float], dict[str, float]]:
    """{hub: net} over the last COST_DAYS complete days, and over the COST_DAYS before."""
    days = [(today - dt.timedelta(days=i)).isoformat() for i in range(1, 2 * COST_DAYS + 1)]
    by_day = hub_net_by_day(instance, days)
    recent: dict[str, float] = {}
    before: dict[str, float] = {}
    for i, day in enumerate(days):
        for hub, net in by_day.get(day, {}).items():
            into = recent if i < COST_DAYS else before
            into[hub] = into.get(hub, 0.0) + net
    return recent, before


def gather_facts(instance: dg.DagsterInstance, fleet: Fleet, now: dt.datetime) -> list[HubFacts]:
    """What every asset recorded about each hub of the fleet, and about retired hubs that
    have left it."""
    records = decommission_records(instance)
    backups = latest_backups(instance)
    sync = latest_sync_states(instance)
    alerts = open_alerts_by_subject(instance)
    recent, before = _cost_sums(instance, now.date())
    facts = []
    for hub in fleet.hubs():
        rec = latest_hub_release(instance, hub.partition_key)
        backup = backups.get(hub.id)
        state, detail = sync.get(hub.id, (None, ""))
        record = records.get(hub.id)
        facts.append(
            HubFacts(
                hub=hub.id,
                cluster=hub.cluster,
                provider=fleet.clusters[hub.cluster].provider,
                tier=hub.effective_tier,
                backups_expected=backups_enabled(hub),
                release=Release(rec.chart_version, rec.git_sha, rec.recorded_at) if rec and rec.recorded_at else None,
                sync=state,
                sync_detail=detail,
                backup=Backup(backup.snapshot_id, snapshot_time(backup.snapshot_id), backup.bytes, backup.verified)
                if backup
                else None,
                net_cost_30d=recent.get(hub.id),
                net_cost_previous_30d=before.get(hub.id),
                open_alerts=alerts.get(hub.id, 0),
                decommission_on=hub.decommission.on if hub.decommission else None,
                decommission_state=record.state if record else "",
                retired=bool(record and record.retired),
            )
        )
    in_config = {f.hub for f in facts}
    for hub_id, record in sorted(records.items()):
        if hub_id not in in_config:
            cluster = hub_id.split("/", 1)[0]
            facts.append(
                HubFacts(
                    hub=hub_id,
                    cluster=cluster,
                    provider=fleet.clusters[cluster].provider if cluster in fleet.clusters else "",
                    tier="",
                    backups_expected=False,
                    decommission_on=dt.date.fromisoformat(record.decommissioned_on)
                    if record.decommissioned_on
                    else None,
                    decommission_state=record.state,
                    retired=record.retired,
                    open_alerts=alerts.get(hub_id, 0),
                )
            )
    return facts


@dg.asset(
    deps=[HUB_RELEASES, user_home_backups, hub_daily_costs, HUB_DECOMMISSIONS, ALERT_INCIDENTS],
    automation_condition=AUTOMATION,
    group_name="fleet",
    kinds={"python"},
    description="The fleet at a glance: one row per hub (cluster, provider, tier; deployed chart, git sha, when, "
    "in sync or drifted; last snapshot age, size, verified; net cost over 30 days and its trend; open alerts; "
    "decommission date and state), failing hubs first, under a one-line summary. Recomputed whenever one of "
    "the assets it reads records something, and hourly.",
)
def fleet_status(context: dg.AssetExecutionContext, fleet: FleetResource) -> dg.MaterializeResult:
    now = dt.datetime.now(dt.UTC)
    status = status_of(gather_facts(context.instance, fleet.load(), now), now)
    summary = status.summary()
    context.log.info(summary)
    return dg.MaterializeResult(
        metadata={
            "summary": dg.MetadataValue.text(summary),
            "hubs": table(status.rows, COLUMNS),
            "failing": dg.MetadataValue.int(len(status.failing)),
            "without_backup": dg.MetadataValue.int(len(status.without_backup)),
            "drifted": dg.MetadataValue.int(len(status.drifted)),
            "hubs_total": dg.MetadataValue.int(len(status.rows)),
        }
    )
