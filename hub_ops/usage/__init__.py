"""Who uses each hub: daily activity from each hub's JupyterHub API, monthly active users,
and home storage from the backup manifests. Plain Python (no Dagster)."""

from hub_ops.usage.activity import (
    DayActivity,
    Observation,
    UsageLedger,
    daily_row,
    monthly_active_users,
    observe,
    record_hub,
)

__all__ = ["DayActivity", "Observation", "UsageLedger", "daily_row", "monthly_active_users", "observe", "record_hub"]
