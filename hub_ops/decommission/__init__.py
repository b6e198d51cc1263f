"""Retiring a hub: when it is due, what gates it, and the idempotent teardown steps.

Plain Python over the clients in hub_ops.clients and the backup engine; hub_ops.defs
.decommission runs it as Dagster jobs and a schedule.
"""
