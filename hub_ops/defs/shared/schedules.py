"""What schedules read from the fleet when the definitions load."""

from __future__ import annotations

import datetime as dt

from hub_ops.fleet import FleetConfigError
from hub_ops.fleet.loader import load_settings
from hub_ops.fleet.models import FleetSettings
from hub_ops.settings import get_settings


def fleet_settings_at_load() -> FleetSettings:
    """fleet.yaml's settings (a schedule's cron is fixed when definitions load); the defaults
    when the file is missing or invalid, so a broken fleet file never stops Dagster from
    loading (the hub_partitions_sensor reports it)."""
    try:
        return load_settings(get_settings().fleet_folder())
    except (FleetConfigError, OSError):
        return FleetSettings()


def today_at_load() -> dt.date:
    """The date the definitions load (HUB_OPS_TODAY in tests and the demo): default partition
    starts are counted from it."""
    return get_settings().today or dt.datetime.now(dt.UTC).date()
