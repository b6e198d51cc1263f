"""The whole Definitions: loads in-process, and `dagster definitions validate` passes on the
example fleet and on the 2i2c fleet (as the deployed code location would load it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from hub_ops.definitions import build_definitions
from hub_ops_tests.conftest import EXAMPLE_FLEET, REPO, TWO_I_TWO_C

DAGSTER = str(Path(sys.executable).parent / "dagster")


@pytest.mark.parametrize("env", ["local", "production"])
def test_definitions_load(env: str):
    defs = build_definitions(env)
    repo = defs.get_repository_def()
    assert "hub_partitions_sensor" in {s.name for s in repo.sensor_defs}
    assert {"fleet", "storage"} <= set(repo.get_top_level_resources())


def test_unknown_environment_is_refused():
    with pytest.raises(ValueError, match="HUB_OPS_ENV='staging': expected one of local, production"):
        build_definitions("staging")


@pytest.mark.parametrize("fleet", [EXAMPLE_FLEET, TWO_I_TWO_C], ids=["example", "2i2c"])
def test_dagster_definitions_validate(fleet: Path, tmp_path: Path):
    env = {
        **os.environ,
        "HUB_OPS_FLEET": str(fleet),
        "HUB_OPS_ENV": "local",
        "DAGSTER_HOME": str(tmp_path),
        "HUB_OPS_DATA": str(tmp_path / "data"),
    }
    proc = subprocess.run(
        [DAGSTER, "definitions", "validate", "-m", "hub_ops.definitions"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All code locations passed validation." in proc.stdout + proc.stderr
    assert not list(REPO.glob(".tmp_dagster_home_*"))


@pytest.mark.parametrize("env", ["local", "production"])
def test_the_fleet_resource_loads_the_fleet_from_hub_ops_fleet(monkeypatch, env: str):
    from hub_ops.defs.fleet import resources

    monkeypatch.setenv("HUB_OPS_FLEET", str(TWO_I_TWO_C))
    fleet = resources(env)["fleet"]
    assert isinstance(fleet, dg.ConfigurableResource)
    assert fleet.root == str(TWO_I_TWO_C)
    assert sum(1 for _ in fleet.load().hubs()) == 171
