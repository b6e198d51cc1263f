"""Fixtures shared by every test. Servers of the local stack live in stack_fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = [
    "hub_ops_tests.stack_fixtures",
    "hub_ops_tests.deploy_fixtures",
    "hub_ops_tests.gke_recorded",
    "hub_ops_tests.kube_nodes",
]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_FLEET = REPO / "deployments"
# a copy of ../shared/fixtures/2i2c-fleet, vendored so CI needs nothing outside the repo
TWO_I_TWO_C = REPO / "hub_ops_tests" / "data" / "2i2c-fleet"


@pytest.fixture(scope="session")
def two_i_two_c_root() -> Path:
    """The real 2i2c fleet (read-only: copy it before changing anything)."""
    assert (TWO_I_TWO_C / "config" / "clusters").is_dir(), f"fixture missing: {TWO_I_TWO_C}"
    return TWO_I_TWO_C


@pytest.fixture
def example_fleet(tmp_path: Path) -> Path:
    """A private copy of the example fleet in deployments/."""
    target = tmp_path / "fleet"
    shutil.copytree(EXAMPLE_FLEET, target)
    return target


@pytest.fixture
def two_i_two_c_copy(tmp_path: Path, two_i_two_c_root: Path) -> Path:
    target = tmp_path / "2i2c"
    shutil.copytree(two_i_two_c_root, target)
    return target
