"""JSON Schemas of the fleet files, for editors (yaml-language-server) and review."""

from __future__ import annotations

from typing import Any

from hub_ops.fleet.models import Cluster, FleetSettings


def json_schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for name, model in (("cluster", Cluster), ("fleet", FleetSettings)):
        doc = model.model_json_schema()
        doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        doc["$id"] = f"https://hub-ops.dev/schema/{name}.schema.json"
        if name == "fleet":  # costs.billing: a single source mapping stands for a list of one
            billing = doc["$defs"]["CostSettings"]["properties"]["billing"]
            billing["anyOf"].insert(1, {"$ref": "#/$defs/BillingSource"})
        out[name] = doc
    return out
