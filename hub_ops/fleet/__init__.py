"""The fleet: clusters and hubs declared in git, loaded, validated and planned.

Plain Python: no Dagster import here, so the CLI stays fast and the library reusable.
"""

from hub_ops.fleet.errors import ConfigProblem, FleetConfigError
from hub_ops.fleet.loader import Fleet, load_fleet, validate_fleet

__all__ = ["ConfigProblem", "Fleet", "FleetConfigError", "load_fleet", "validate_fleet"]
