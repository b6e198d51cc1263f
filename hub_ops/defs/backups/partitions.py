"""Backups are partitioned by night and hub: one snapshot per hub per night."""

import dagster as dg

from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.defs.shared.schedules import fleet_settings_at_load, today_at_load
from hub_ops.fleet.models import partition_start

# fleet.yaml backups.start_date (default: the first of last month): "missing" means missing
FIRST_NIGHT = partition_start(fleet_settings_at_load().backups.start_date, today_at_load())
# partition D is the night after day D (a 02:00 run on D+1 backs up what D left behind)
backup_nights = dg.DailyPartitionsDefinition(start_date=FIRST_NIGHT.isoformat(), timezone="UTC")
backup_partitions = dg.MultiPartitionsDefinition({"date": backup_nights, "hub": hubs_partitions})


def backup_partition_key(date: str, hub_partition: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": date, "hub": hub_partition})
