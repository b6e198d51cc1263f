"""The one Definitions of hub_ops, assembled from the domains in hub_ops/defs.

HUB_OPS_ENV picks the resources: "local" (default: file storage under HUB_OPS_DATA, the
fleet at HUB_OPS_FLEET or ./deployments, no cloud credentials) or "production".
"""

from __future__ import annotations

import importlib
import os

import dagster as dg

from hub_ops.defs import DOMAINS, ENVIRONMENTS


def build_definitions(env: str) -> dg.Definitions:
    if env not in ENVIRONMENTS:
        raise ValueError(f"HUB_OPS_ENV={env!r}: expected one of {', '.join(ENVIRONMENTS)}")
    modules = [importlib.import_module(f"hub_ops.defs.{name}") for name in DOMAINS]
    resources: dict = {}
    for module in modules:
        for key, value in module.resources(env).items():
            if key in resources:
                raise ValueError(f"resource {key!r} is defined by two domains ({module.__name__})")
            resources[key] = value
    return dg.Definitions.merge(*(m.defs for m in modules), dg.Definitions(resources=resources))


defs = build_definitions(os.environ.get("HUB_OPS_ENV", "local"))
