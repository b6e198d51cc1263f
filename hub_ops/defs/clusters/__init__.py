"""The clusters domain (filled in by its issue)."""

import dagster as dg

defs = dg.Definitions()


def resources(env: str) -> dict:
    return {}
