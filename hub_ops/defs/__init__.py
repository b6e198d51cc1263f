"""Dagster definitions by domain. Each domain package exports:

- `defs`: a dagster.Definitions of its assets, checks, jobs, sensors, schedules;
- `resources(env)`: the resources it owns for an environment ("local" | "production").

A resource key is owned by exactly one domain (fleet owns `fleet` and `storage`); others
only name it. hub_ops.definitions assembles the whole.
"""

DOMAINS = ("fleet", "releases", "backups", "costs", "clusters", "decommission")
ENVIRONMENTS = ("local", "production")
