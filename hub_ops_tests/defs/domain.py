"""One domain's definitions with a test's resources, as the deployed code location would
resolve them (every asset, check and job of hub_ops, only the resources swapped)."""

from __future__ import annotations

import dagster as dg

from hub_ops.definitions import defs


def definitions_with(resources: dict) -> dg.Definitions:
    """hub_ops's whole Definitions, its resources replaced by `resources`."""
    whole = defs()
    return dg.Definitions(
        assets=whole.assets,
        asset_checks=whole.asset_checks,
        jobs=whole.jobs,
        schedules=whole.schedules,
        sensors=whole.sensors,
        resources={**(whole.resources or {}), **resources},
    )
