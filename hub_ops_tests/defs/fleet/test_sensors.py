"""hub_partitions_sensor on a real (temporary) Dagster instance."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from hub_ops.defs.fleet.sensors import hub_partitions_sensor
from hub_ops.defs.shared.partitions import hubs_partitions
from hub_ops.defs.shared.resources import FleetResource
from hub_ops_tests.conftest import TWO_I_TWO_C
from hub_ops_tests.fleet_helpers import replace

EXAMPLE_KEYS = sorted(
    [
        "community-hubs.staging",
        "community-hubs.ohw",
        "community-hubs.climatematch",
        "community-hubs.uni",
        "local-demo.staging",
        "local-demo.workshop",
        "pangeo-hubs.staging",
        "pangeo-hubs.prod",
        "pangeo-hubs.legacy",
    ]
)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def tick(instance: dg.DagsterInstance, root: Path):
    """Evaluate the sensor once and apply its partition requests, as the daemon does."""
    context = dg.build_sensor_context(instance=instance, resources={"fleet": FleetResource(root=str(root))})
    result = hub_partitions_sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


def partitions(instance: dg.DagsterInstance) -> list[str]:
    return sorted(instance.get_dynamic_partitions(hubs_partitions.name))


def test_first_tick_adds_a_partition_per_hub_then_skips(instance, example_fleet: Path):
    result = tick(instance, example_fleet)
    assert isinstance(result, dg.SensorResult)
    [add] = result.dynamic_partitions_requests
    assert isinstance(add, dg.AddDynamicPartitionsRequest)
    assert (add.partitions_def_name, list(add.partition_keys)) == ("hubs", EXAMPLE_KEYS)
    assert partitions(instance) == EXAMPLE_KEYS
    again = tick(instance, example_fleet)
    assert isinstance(again, dg.SkipReason)
    assert again.skip_message == "9 hub partitions already match the fleet"


def test_hubs_added_and_removed_follow_the_fleet(instance, example_fleet: Path):
    tick(instance, example_fleet)
    c = example_fleet / "clusters/community-hubs/cluster.yaml"
    text = c.read_text()
    c.write_text(text[: text.index("- name: climatematch")] + text[text.index("- name: uni") :])
    replace(example_fleet, "clusters/local-demo/cluster.yaml", "- name: workshop", "- name: workshop-2026")
    result = tick(instance, example_fleet)
    add, delete = result.dynamic_partitions_requests
    assert list(add.partition_keys) == ["local-demo.workshop-2026"]
    assert isinstance(delete, dg.DeleteDynamicPartitionsRequest)
    assert list(delete.partition_keys) == ["community-hubs.climatematch", "local-demo.workshop"]
    assert partitions(instance) == sorted(
        set(EXAMPLE_KEYS) - {"community-hubs.climatematch", "local-demo.workshop"} | {"local-demo.workshop-2026"}
    )


def test_an_invalid_fleet_leaves_partitions_alone(instance, example_fleet: Path):
    tick(instance, example_fleet)
    replace(example_fleet, "clusters/pangeo-hubs/cluster.yaml", "provider: gcp", "provider: gcpp")
    result = tick(instance, example_fleet)
    assert isinstance(result, dg.SkipReason)
    assert result.skip_message == (
        "fleet config invalid, partitions left as they are:\n"
        "clusters/pangeo-hubs/cluster.yaml:2 provider: Input should be 'gcp', 'aws', 'azure', 'kubeconfig' or 'local' (got 'gcpp')"
    )
    assert partitions(instance) == EXAMPLE_KEYS


def test_the_2i2c_fleet(instance, tmp_path: Path):
    root = tmp_path / "2i2c"
    shutil.copytree(TWO_I_TWO_C, root)
    tick(instance, root)
    keys = partitions(instance)
    assert len(keys) == 171
    assert "utoronto.r-prod" in keys and "cloudbank.staging" in keys
