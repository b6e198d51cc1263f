"""The instance's run queue: Dagster's QueuedRunCoordinator, plus the hub tag on runs that
back up one hub but were not created with it.

The run queue's limits (dagster.yaml: one run per `hub_ops/hub`, N backups at a time) act on
run tags. A run of `user_home_backups` created by a backfill (the nightly_backups schedule
adds one per night) or launched from the asset's page carries its partition, not the hub
tag: Dagster's backfill daemon gives every run of a backfill the same tags. This coordinator
adds `hub_ops/hub` (`cluster/hub`, the id people read) from the run's `hub` partition
dimension before the run is queued, so those runs queue under the same limits as every
other run that touches the hub.

Configured in dagster.yaml (`run_coordinator`), deployments/hub-ops/dagster.yaml and the helm
values (`CustomRunCoordinator`); it takes QueuedRunCoordinator's config unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from hub_ops.defs.shared.partitions import HUB_TAG, hub_id

# the tag Dagster gives a run of a multi-partitioned asset for its `hub` dimension
# (defs/backups/partitions.py); test_run_queue checks that real backfill runs carry it
HUB_PARTITION_TAG = "dagster/partition/hub"


def missing_hub_tag(tags: Mapping[str, str]) -> dict[str, str]:
    """The hub tag a run with these tags should carry and does not: {} when it has one
    already (a restore's, set by its partitioned config) or names no hub partition."""
    if HUB_TAG in tags or not tags.get(HUB_PARTITION_TAG):
        return {}
    return {HUB_TAG: hub_id(tags[HUB_PARTITION_TAG])}


class HubRunCoordinator(dg.QueuedRunCoordinator):
    """QueuedRunCoordinator whose queued runs of one hub's partition carry `hub_ops/hub`."""

    def submit_run(self, context: dg.SubmitRunContext) -> dg.DagsterRun:
        run = context.dagster_run
        tags = missing_hub_tag(run.tags)
        if tags:
            # before the enqueue event: the queue daemon reads the tags from storage
            self._instance.add_run_tags(run.run_id, tags)
        return super().submit_run(context)
