"""The `billing` resource: where the billing export is read (fleet.yaml costs.billing)."""

from __future__ import annotations

import dagster as dg

from hub_ops.clients.storage import Storage
from hub_ops.fleet import Fleet


class BillingResource(dg.ConfigurableResource):
    """Reads the detailed billing export named by fleet.yaml `costs.billing` (files at an fsspec
    URL, or a BigQuery table). The fields override fleet.yaml, e.g. to point a run at a file."""

    files: str | None = None
    bigquery_table: str | None = None  # project.dataset.table
    job_project: str | None = None  # project that runs BigQuery jobs; default the table's

    def source(self, fleet: Fleet, storage: Storage):
        """An ExportFiles or a BigQueryExport: `.aggregate(start, end, progress) -> Usage`."""
        from hub_ops.clients.billing import billing_source  # pyarrow: not at load

        return billing_source(fleet, storage, self.files, self.bigquery_table, self.job_project)


@dg.definitions
def costs_resources() -> dg.Definitions:
    # both environments read what fleet.yaml names; BigQuery uses application default credentials
    return dg.Definitions(resources={"billing": BillingResource()})
