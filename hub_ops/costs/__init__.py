"""Cost reports from billing exports (pandas + pyarrow; no Dagster here).

read (readers.ExportFiles: the GCP detailed export, or hub_ops.clients.billing.BigQueryExport;
cur.CurExport: AWS CUR 2.0 with EKS split cost allocation; azure.AzureCostExport: Azure cost
details, actual or amortized; focus.FocusExport: FOCUS 1.0-1.2;
sources.py tells the kind by columns and reads several sources as one) -> Usage (usage.py:
exact sums per day, project, GKE cluster, namespace) -> CostReport (attribution.py: lines per
hub, shared and unknown lines, the fleet's sharing policy) -> tables, summary, chart, files
(report.py). crosscheck.py re-reads the export's net through another path for the
reconciliation check. Sample exports for demos, tests and benchmarks: hub_ops_dev.sample_billing,
sample_cur, sample_azure_costs.
"""

from hub_ops.costs.errors import BillingExportError, MixedCurrencyError
from hub_ops.costs.readers import ExportFiles
from hub_ops.costs.report import CostReport, Reconciliation, hub_summary, reconcile, reconcile_days
from hub_ops.costs.usage import Usage

__all__ = [
    "BillingExportError",
    "CostReport",
    "ExportFiles",
    "MixedCurrencyError",
    "Reconciliation",
    "Usage",
    "hub_summary",
    "reconcile",
    "reconcile_days",
]
