"""The JSON Schemas exported for editors: committed, current, and true to the loader."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from hub_ops.fleet.schema import json_schemas
from hub_ops_tests.conftest import EXAMPLE_FLEET, TWO_I_TWO_C

SCHEMA_DIR = EXAMPLE_FLEET / "schema"


@pytest.mark.parametrize("name", ["cluster", "fleet"])
def test_committed_schema_is_current(name: str):
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.is_file(), f"{path} missing: run `hub-ops schema --out deployments/schema`"
    assert json.loads(path.read_text()) == json_schemas()[name], (
        f"{path} is stale: run `hub-ops schema --out deployments/schema` and commit it"
    )


def _as_json(doc):
    """A document as an editor sees it: YAML 1.2 keys (`on` is a string), dates as text."""
    if isinstance(doc, dict):
        return {("on" if k is True else k): _as_json(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_as_json(v) for v in doc]
    return json.loads(json.dumps(doc, default=str))


def _cluster_files() -> list[Path]:
    return sorted(EXAMPLE_FLEET.glob("clusters/*/cluster.yaml")) + sorted(
        TWO_I_TWO_C.glob("config/clusters/*/cluster.yaml")
    )


def test_every_real_cluster_file_passes_the_schema():
    validator = jsonschema.Draft202012Validator(json_schemas()["cluster"])
    files = _cluster_files()
    assert len(files) == 33
    for path in files:
        errors = [e.message for e in validator.iter_errors(_as_json(yaml.safe_load(path.read_text())))]
        assert errors == [], path


def test_the_fleet_file_passes_the_schema():
    jsonschema.Draft202012Validator(json_schemas()["fleet"]).validate(
        _as_json(yaml.safe_load((EXAMPLE_FLEET / "fleet.yaml").read_text()))
    )


def test_schema_refuses_what_the_loader_refuses():
    validator = jsonschema.Draft202012Validator(json_schemas()["cluster"])
    good = _as_json(yaml.safe_load((EXAMPLE_FLEET / "clusters/community-hubs/cluster.yaml").read_text()))
    for path, value in (
        (("hubs", 0, "helm_charts_values_files"), []),
        (("hubs", 1, "name"), "OHW_2024"),
        (("hubs", 2, "tier"), "canary"),
        (("provider",), "digitalocean"),
    ):
        doc = json.loads(json.dumps(good))
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        assert list(validator.iter_errors(doc)), path


def test_schema_ids():
    schemas = json_schemas()
    assert schemas["cluster"]["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schemas["cluster"]["additionalProperties"] is False
    assert set(schemas) == {"cluster", "fleet"}
