"""The fleet domain: hub partitions and the resources every domain uses."""

import dagster as dg

from hub_ops.defs.fleet.resources import resources
from hub_ops.defs.fleet.sensors import hub_partitions_sensor

defs = dg.Definitions(sensors=[hub_partitions_sensor])

__all__ = ["defs", "resources"]
