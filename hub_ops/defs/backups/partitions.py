"""Backups are partitioned by night and hub: one snapshot per hub per night."""

import dagster as dg

from hub_ops.defs.shared.partitions import hubs_partitions

# partition D is the night after day D (a 02:00 run on D+1 backs up what D left behind)
backup_nights = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")
backup_partitions = dg.MultiPartitionsDefinition({"date": backup_nights, "hub": hubs_partitions})


def backup_partition_key(date: str, hub_partition: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"date": date, "hub": hub_partition})
