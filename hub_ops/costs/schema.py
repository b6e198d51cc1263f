"""The Cloud Billing *detailed* usage cost export, as BigQuery writes it, and GKE's labels in it.

Sources (Google's documentation, checked for this module):

- Structure of the detailed data export (table `gcp_billing_export_resource_v1_<BILLING_ACCOUNT_ID>`,
  its columns, and the GKE label keys `goog-k8s-cluster-name`, `goog-k8s-cluster-location`,
  `goog-k8s-node-pool-name`, `k8s-namespace`, `k8s-label/...`):
  https://cloud.google.com/billing/docs/how-to/export-data-bigquery-tables/detailed-usage
- GKE cost allocation ("View detailed breakdown of cluster costs"): the cluster and namespace
  of GKE workloads appear in `labels`; costs are split by resource *requests*, the capacity
  nobody requested is the namespace `kube:unallocated`, the capacity GKE reserves outside node
  allocatable is `kube:system-overhead`; rows GKE cannot attribute carry `goog-k8s-unknown`,
  SKUs it does not split carry `goog-k8s-unsupported-sku`. Enabling it does not change the
  export's total: https://cloud.google.com/kubernetes-engine/docs/how-to/cost-allocations
- Example queries (cost after credits = `cost + SUM(credits.amount)`):
  https://cloud.google.com/billing/docs/how-to/bq-examples

The label keys are listed on the detailed-usage page, the four special namespace values on the
cost-allocations page (there is no `goog-k8s-unallocated`).

Files: BigQuery's `EXPORT DATA` writes this schema as Parquet (RECORD -> struct, REPEATED ->
list) and as newline-delimited JSON (objects and arrays, TIMESTAMP as "2026-10-01 00:00:00 UTC").
It refuses nested or repeated columns in CSV, so a CSV export carries every RECORD or
REPEATED column as JSON text (`SELECT * REPLACE (TO_JSON_STRING(labels) AS labels, ...)`).
"""

from __future__ import annotations

import pyarrow as pa

# label keys set by GKE cost allocation
CLUSTER_LABEL = "goog-k8s-cluster-name"
LOCATION_LABEL = "goog-k8s-cluster-location"
NODE_POOL_LABEL = "goog-k8s-node-pool-name"
NAMESPACE_LABEL = "k8s-namespace"
WORKLOAD_LABEL_PREFIX = "k8s-label/"

# special values of k8s-namespace
UNALLOCATED_NAMESPACE = "kube:unallocated"  # node capacity no pod requested: idle
SYSTEM_OVERHEAD_NAMESPACE = "kube:system-overhead"  # reserved outside node allocatable
UNKNOWN_NAMESPACE = "goog-k8s-unknown"  # GKE could not attribute
UNSUPPORTED_SKU_NAMESPACE = "goog-k8s-unsupported-sku"  # SKU not split by cost allocation

KEY_VALUE = pa.struct([("key", pa.string()), ("value", pa.string())])
CREDIT = pa.struct(
    [
        ("name", pa.string()),
        ("amount", pa.float64()),
        ("full_name", pa.string()),
        ("id", pa.string()),
        ("type", pa.string()),
    ]
)

# the detailed export's columns, in BigQuery's order
DETAILED_EXPORT_SCHEMA = pa.schema(
    [
        ("billing_account_id", pa.string()),
        ("service", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("sku", pa.struct([("id", pa.string()), ("description", pa.string())])),
        ("usage_start_time", pa.timestamp("us", tz="UTC")),
        ("usage_end_time", pa.timestamp("us", tz="UTC")),
        (
            "project",
            pa.struct(
                [
                    ("id", pa.string()),
                    ("number", pa.string()),
                    ("name", pa.string()),
                    ("labels", pa.list_(KEY_VALUE)),
                    ("ancestry_numbers", pa.string()),
                    ("ancestors", pa.list_(pa.struct([("resource_name", pa.string()), ("display_name", pa.string())]))),
                ]
            ),
        ),
        ("labels", pa.list_(KEY_VALUE)),
        ("system_labels", pa.list_(KEY_VALUE)),
        (
            "location",
            pa.struct(
                [("location", pa.string()), ("country", pa.string()), ("region", pa.string()), ("zone", pa.string())]
            ),
        ),
        (
            "tags",
            pa.list_(
                pa.struct(
                    [
                        ("key", pa.string()),
                        ("value", pa.string()),
                        ("inherited", pa.bool_()),
                        ("namespace", pa.string()),
                    ]
                )
            ),
        ),
        ("export_time", pa.timestamp("us", tz="UTC")),
        ("cost", pa.float64()),
        ("currency", pa.string()),
        ("currency_conversion_rate", pa.float64()),
        (
            "usage",
            pa.struct(
                [
                    ("amount", pa.float64()),
                    ("unit", pa.string()),
                    ("amount_in_pricing_units", pa.float64()),
                    ("pricing_unit", pa.string()),
                ]
            ),
        ),
        ("credits", pa.list_(CREDIT)),
        ("invoice", pa.struct([("month", pa.string()), ("publisher_type", pa.string())])),
        ("cost_type", pa.string()),
        (
            "adjustment_info",
            pa.struct(
                [("id", pa.string()), ("description", pa.string()), ("mode", pa.string()), ("type", pa.string())]
            ),
        ),
        ("resource", pa.struct([("name", pa.string()), ("global_name", pa.string())])),
        (
            "price",
            pa.struct(
                [
                    ("effective_price", pa.float64()),
                    ("tier_start_amount", pa.float64()),
                    ("unit", pa.string()),
                    ("pricing_unit_quantity", pa.float64()),
                ]
            ),
        ),
        ("cost_at_list", pa.float64()),
        ("transaction_type", pa.string()),
        ("seller_name", pa.string()),
        ("subscription", pa.struct([("instance_id", pa.string())])),
    ]
)

# what a cost report reads of each row; everything else is never loaded
NEEDED_COLUMNS = ("usage_start_time", "project", "labels", "cost", "currency", "credits")
NEEDED_SCHEMA = pa.schema(
    [
        ("usage_start_time", pa.string()),  # parsed after reading: JSON and CSV carry it as text
        ("project", pa.struct([("id", pa.string())])),
        ("labels", pa.list_(KEY_VALUE)),
        ("cost", pa.float64()),
        ("currency", pa.string()),
        ("credits", pa.list_(pa.struct([("amount", pa.float64())]))),
    ]
)
