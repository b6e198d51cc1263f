"""Partitions shared across domains, and the jobs that change one hub.

A job that changes a hub (a restore into its homes, a migration, a decommission) is
partitioned by `hubs`: the Launchpad asks for the hub as a partition, and the partition
gives the run its `hub_ops/hub` tag (`cluster/hub`), which dagster.yaml limits to one run per hub (like the
nightly backups'). Tags can be edited in the Launchpad, so the job's first op checks them
(`hub_of_run`): a run whose tag does not name its partition fails before it changes
anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

# one key per hub, "<cluster>.<hub>" (Dagster keys may not contain "/"); kept equal to the
# fleet by the hub_partitions_sensor
hubs_partitions = dg.DynamicPartitionsDefinition(name="hubs")

HUB_TAG = "hub_ops/hub"


def hub_id(partition_key: str) -> str:
    """`cluster.hub` (a `hubs` partition key) -> `cluster/hub`, the id people read."""
    return partition_key.replace(".", "/", 1)


def hub_run_tags(partition_key: str, kind: str) -> dict[str, str]:
    """Tags of a run that changes the partition's hub: `hub_ops/hub` spells it `cluster/hub`."""
    return {HUB_TAG: hub_id(partition_key), "hub_ops/kind": kind}


def hub_partitioned_config(kind: str, run_config: Mapping[str, Any]) -> dg.PartitionedConfig:
    """Run config `run_config` (the Launchpad's starting point) and the tags of a run that
    changes the partition's hub."""
    return dg.PartitionedConfig(
        partitions_def=hubs_partitions,
        run_config_for_partition_key_fn=lambda _key: dict(run_config),
        tags_for_partition_key_fn=lambda key: hub_run_tags(key, kind),
    )


def hub_of_run(context: dg.OpExecutionContext) -> str:
    """The hub (cluster/hub) this run changes: its partition, which its `hub_ops/hub` tag
    must name. Raises a Failure saying what to do otherwise."""
    if not context.has_partition_key:
        raise dg.Failure(
            f"{context.job_name} changes one hub: launch it for a partition of `hubs` (the hub, as cluster.hub)",
            allow_retries=False,
        )
    key = context.partition_key
    hub = hub_id(key)
    tag = context.run.tags.get(HUB_TAG)
    if tag != hub:
        raise dg.Failure(
            f"this run of {context.job_name} is for hub partition {key!r} but its {HUB_TAG} tag is {tag!r}: "
            f"the tag is what keeps other runs off the hub (dagster.yaml); launch it with {HUB_TAG}={hub}. "
            "Nothing was changed.",
            allow_retries=False,
        )
    return hub
