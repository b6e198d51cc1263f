"""Partitions shared across domains."""

import dagster as dg

# one key per hub, "<cluster>.<hub>" (Dagster keys may not contain "/"); kept equal to the
# fleet by the hub_partitions_sensor
hubs_partitions = dg.DynamicPartitionsDefinition(name="hubs")
