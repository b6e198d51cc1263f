"""Dagster definitions by domain, loaded from this folder (hub_ops.definitions).

Every domain keeps the same files: assets.py, checks.py, jobs.py, schedules.py, sensors.py
(and resources.py for a resource only it uses); shared/ holds what several domains use.
Domains import each other's public readers only (e.g. deploy.assets.latest_hub_release).
"""
