"""Keep the `hubs` dynamic partitions equal to the hubs of the fleet."""

from __future__ import annotations

import dagster as dg

from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.defs.shared.resources import FleetResource
from hub_ops.fleet import FleetConfigError


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a `hubs` partition for each hub in the fleet config and removes those of hubs no longer in it.",
)
def hub_partitions_sensor(context: dg.SensorEvaluationContext, fleet: FleetResource):
    try:
        wanted = {hub.partition_key for hub in fleet.load().hubs()}
    except FleetConfigError as e:
        return dg.SkipReason(f"fleet config invalid, partitions left as they are:\n{e}")
    current = set(context.instance.get_dynamic_partitions(hubs_partitions.name))
    added, removed = sorted(wanted - current), sorted(current - wanted)
    if not added and not removed:
        return dg.SkipReason(f"{len(wanted)} hub partitions already match the fleet")
    requests = []
    if added:
        requests.append(hubs_partitions.build_add_request(added))
    if removed:
        requests.append(hubs_partitions.build_delete_request(removed))
    context.log.info(f"hub partitions: +{len(added)} {added[:10]} -{len(removed)} {removed[:10]}")
    return dg.SensorResult(dynamic_partitions_requests=requests)


# Dagster evaluates AutomationConditions only through a sensor; on by default so fleet_status
# stays current on a fresh instance (it only reads what other assets recorded)
fleet_automation_sensor = dg.AutomationConditionSensorDefinition(
    "fleet_automation_sensor",
    target=dg.AssetSelection.assets("fleet_status"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Evaluates fleet_status's automation condition: after any asset it summarizes records, and hourly.",
)
