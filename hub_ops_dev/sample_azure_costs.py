"""A deterministic Azure Cost Management cost details export (actual or amortized cost, EA or MCA
schema, CSV or Parquet) for a fleet's `provider: azure` clusters.

Shapes, from Microsoft's dataset schema pages: the EA columns of version 2024-08-01 (PascalCase:
`Date`, `CostInBillingCurrency`, `BillingCurrencyCode`, `ResourceGroup`, `Tags` as an object's
members without braces) and the MCA columns of version 2023-12-01-preview (camelCase: `date`,
`costInBillingCurrency`, `billingCurrency`, `resourceGroupName`, `tags` as a JSON object), in
their documented order; dates as MM/DD/YYYY; one daily row per resource and meter. Each run is
laid out as exports write it: `<folder>/<export>/<YYYYMMDD-YYYYMMDD>/<run id>/part_0_0001.<ext>`
beside a manifest.json (`exportConfig.type` ActualCost or AmortizedCost).

Rows per day, per azure cluster: the AKS control plane (a managedClusters resource id in the
cluster's resource group); in its node resource group `MC_<group>_<cluster>_<region>` two VM scale
sets (AKS's `aks-managed-poolName` tags), a load balancer and a public IP (no tags), and one home
disk per hub tagged by the disk CSI driver (`kubernetes.io-created-for-pvc-namespace`); in the
cluster's group a storage account tagged `2i2c.org-hub-name` (the first hub's), one without tags,
and a Refund; outside any group a RoundingAdjustment, and a reservation Purchase (actual) or its
UnusedReservation (amortized). Strays a report must keep: a disk of a namespace no hub owns, a
resource group outside the fleet. Same fleet, seed and day -> same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq

from hub_ops.fleet import Fleet

EA_COLUMNS = (
    "InvoiceSectionName AccountName AccountOwnerId SubscriptionId SubscriptionName ResourceGroup "
    "ResourceLocation Date ProductName MeterCategory MeterSubCategory MeterId MeterName MeterRegion "
    "UnitOfMeasure Quantity EffectivePrice CostInBillingCurrency CostCenter ConsumedService ResourceId "
    "Tags OfferId AdditionalInfo ServiceInfo1 ServiceInfo2 ResourceName ReservationId ReservationName "
    "UnitPrice ProductOrderId ProductOrderName Term PublisherType PublisherName ChargeType Frequency "
    "PricingModel AvailabilityZone BillingAccountId BillingAccountName BillingCurrencyCode "
    "BillingPeriodStartDate BillingPeriodEndDate BillingProfileId BillingProfileName InvoiceSectionId "
    "IsAzureCreditEligible PartNumber PayGPrice PlanName ServiceFamily CostAllocationRuleName benefitId "
    "benefitName AccountId ResourceLocationNormalized"
).split()
MCA_COLUMNS = (
    "invoiceId previousInvoiceId billingAccountId billingAccountName billingProfileId billingProfileName "
    "invoiceSectionId invoiceSectionName resellerName resellerMpnId costCenter billingPeriodEndDate "
    "billingPeriodStartDate servicePeriodEndDate servicePeriodStartDate date serviceFamily productOrderId "
    "productOrderName consumedService meterId meterName meterCategory meterSubCategory meterRegion ProductId "
    "ProductName SubscriptionId subscriptionName publisherType publisherId publisherName resourceGroupName "
    "ResourceId resourceLocation location effectivePrice quantity unitOfMeasure chargeType billingCurrency "
    "pricingCurrency costInBillingCurrency costInPricingCurrency costInUsd paygCostInBillingCurrency "
    "paygCostInUsd exchangeRatePricingToBilling exchangeRateDate isAzureCreditEligible serviceInfo1 "
    "serviceInfo2 additionalInfo tags PayGPrice frequency term reservationId reservationName pricingModel "
    "unitPrice costAllocationRuleName benefitId benefitName provider"
).split()
SUBSCRIPTION = "2f1b6b0e-8e0c-4d7a-9a55-3c1d2e4f5a6b"
UNKNOWN_GROUP = "research-data-rg"
UNKNOWN_NAMESPACE_EXAMPLE = "scratch-tests"
REGION = "westeurope"


@dataclass(frozen=True)
class AzureRow:
    """One resource's daily row: everything but the day and the amount's noise."""

    group: str  # resource group as the export spells it ("" = none)
    resource_id: str
    tags: dict[str, str]
    daily_cost: float
    meter: str
    service: str
    charge: str = "Usage"
    pricing: str = "On Demand"


def azure_rows(fleet: Fleet, dataset: str = "ActualCost") -> list[AzureRow]:
    """The daily rows of every azure cluster of the fleet, plus the strays a real export has."""
    out: list[AzureRow] = []
    clusters = [c for c in fleet.clusters.values() if c.provider == "azure" and c.azure]
    for index, cluster in enumerate(clusters):
        group, aks = cluster.azure.resource_group, cluster.azure.cluster
        nodes = f"MC_{group}_{aks}_{REGION}"
        sub = f"/subscriptions/{SUBSCRIPTION}/resourceGroups"
        out.append(
            AzureRow(
                group,
                f"{sub}/{group}/providers/Microsoft.ContainerService/managedClusters/{aks}",
                {},
                2.40,
                "Standard Uptime SLA",
                "Microsoft.ContainerService",
            )
        )
        for pool, cost in (("core", 4.6), ("user", 18.5)):
            out.append(
                AzureRow(
                    nodes.upper(),  # exports often spell the node group in capitals
                    f"{sub}/{nodes}/providers/Microsoft.Compute/virtualMachineScaleSets/aks-{pool}-{index:02d}-vmss",
                    {"aks-managed-poolName": pool, "aks-managed-orchestrator": "Kubernetes:1.30.4"},
                    cost,
                    "D4s v5",
                    "Microsoft.Compute",
                )
            )
        for kind, cost in (("loadBalancers/kubernetes", 0.6), ("publicIPAddresses/kubernetes-ip", 0.12)):
            out.append(AzureRow(nodes, f"{sub}/{nodes}/providers/Microsoft.Network/{kind}", {}, cost, kind, "Network"))
        namespaces = [h.effective_namespace for h in cluster.hubs]
        if index == len(clusters) - 1:
            namespaces.append(UNKNOWN_NAMESPACE_EXAMPLE)
        for namespace in namespaces:
            disk = f"pvc-{zlib.crc32(f'{aks}/{namespace}'.encode()):08x}"
            out.append(
                AzureRow(
                    nodes,
                    f"{sub}/{nodes}/providers/Microsoft.Compute/disks/{disk}",
                    {
                        "kubernetes.io-created-for-pvc-name": "home-nfs",
                        "kubernetes.io-created-for-pvc-namespace": namespace,
                        "kubernetes.io-created-for-pv-name": disk,
                    },
                    0.9,
                    "P10 LRS Disk",
                    "Microsoft.Compute",
                )
            )
        storage = f"{sub}/{group}/providers/Microsoft.Storage/storageAccounts"
        if cluster.hubs:
            hub = cluster.hubs[0].name
            out.append(AzureRow(group, f"{storage}/{hub}homes", {"2i2c.org-hub-name": hub}, 0.5, "Hot LRS", "Storage"))
        out.append(AzureRow(group, f"{storage}/{aks}logs", {}, 0.2, "Hot LRS", "Storage"))
        out.append(AzureRow(group, f"{storage}/{aks}logs", {}, -0.3, "Hot LRS", "Storage", charge="Refund"))
    out.append(
        AzureRow(UNKNOWN_GROUP, f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{UNKNOWN_GROUP}", {}, 1.1, "", "")
    )
    out.append(AzureRow("", "", {}, 0.0004, "", "", charge="RoundingAdjustment"))
    if dataset == "AmortizedCost":  # the reservation's unused hours; its purchase is not in amortized data
        out.append(AzureRow("", "", {}, 0.8, "D4s v5", "", charge="UnusedReservation", pricing="Reservation"))
    else:
        out.append(AzureRow("", "", {}, 14.0, "D4s v5", "", charge="Purchase", pricing="Reservation"))
    return out


def _tags(tags: dict[str, str], schema: str) -> str:
    if not tags:
        return ""
    text = json.dumps(tags, separators=(",", ": "))
    return text if schema == "mca" else text[1:-1]  # EA: the members without braces


def day_table(
    fleet: Fleet, day: dt.date, schema: str = "ea", dataset: str = "ActualCost", seed: int = 0, currency: str = "EUR"
) -> pa.Table:
    """One day of the export, every column of the schema as text (as exports write CSV) except the amount."""
    rows = azure_rows(fleet, dataset)
    rng = np.random.default_rng([seed, day.toordinal(), 3])
    noise = rng.lognormal(0.0, 0.25, size=len(rows))
    amounts = [round(r.daily_cost * (n if r.charge == "Usage" else 1.0), 10) for r, n in zip(rows, noise)]
    period = day.replace(day=1)
    period_end = (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    us = "%m/%d/%Y"
    values = {
        "date": [day.strftime(us)] * len(rows),
        "cost": amounts,
        "currency": [currency] * len(rows),
        "group": [r.group for r in rows],
        "resource_id": [r.resource_id for r in rows],
        "tags": [_tags(r.tags, schema) for r in rows],
        "charge": [r.charge for r in rows],
        "pricing": [r.pricing for r in rows],
        "meter": [r.meter for r in rows],
        "service": [r.service for r in rows],
        "subscription": [SUBSCRIPTION if r.group else "" for r in rows],
        "period_start": [period.strftime(us)] * len(rows),
        "period_end": [period_end.strftime(us)] * len(rows),
        "location": [REGION if r.group else "" for r in rows],
    }
    names = {
        "ea": {
            "Date": "date",
            "CostInBillingCurrency": "cost",
            "BillingCurrencyCode": "currency",
            "ResourceGroup": "group",
            "ResourceId": "resource_id",
            "Tags": "tags",
            "ChargeType": "charge",
            "PricingModel": "pricing",
            "MeterName": "meter",
            "ConsumedService": "service",
            "SubscriptionId": "subscription",
            "BillingPeriodStartDate": "period_start",
            "BillingPeriodEndDate": "period_end",
            "ResourceLocation": "location",
        },
        "mca": {
            "date": "date",
            "costInBillingCurrency": "cost",
            "billingCurrency": "currency",
            "resourceGroupName": "group",
            "ResourceId": "resource_id",
            "tags": "tags",
            "chargeType": "charge",
            "pricingModel": "pricing",
            "meterName": "meter",
            "consumedService": "service",
            "SubscriptionId": "subscription",
            "billingPeriodStartDate": "period_start",
            "billingPeriodEndDate": "period_end",
            "resourceLocation": "location",
        },
    }[schema]
    columns = EA_COLUMNS if schema == "ea" else MCA_COLUMNS
    empty = pa.nulls(len(rows), pa.string())
    arrays = [
        pa.array(values[names[c]], pa.float64() if names.get(c) == "cost" else pa.string()) if c in names else empty
        for c in columns
    ]
    return pa.table(arrays, names=list(columns))


def run_folder(folder: str, month: dt.date, export: str, run: str) -> str:
    end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return f"{folder.rstrip('/')}/{export}/{month:%Y%m%d}-{end:%Y%m%d}/{run}"


def write_export(
    tables: Iterable[pa.Table],
    folder: str,
    storage=None,
    export: str = "hub-ops-costs",
    dataset: str = "ActualCost",
    file_format: str = "csv",
) -> list[str]:
    """Writes the days as export runs (one per month: a part file and its manifest.json); returns
    the part files' URLs."""
    from hub_ops.clients.storage import Storage

    storage = storage or Storage()
    by_month: dict[dt.date, list[pa.Table]] = {}
    for table in tables:
        first = table.column(next(c for c in table.column_names if c.lower() == "date"))[0].as_py()
        day = dt.datetime.strptime(first, "%m/%d/%Y").date()
        by_month.setdefault(day.replace(day=1), []).append(table)
    written = []
    for month, days in sorted(by_month.items()):
        run = f"{zlib.crc32(f'{export}{month}'.encode()):08x}-0000-4000-8000-000000000000"
        base = run_folder(folder, month, export, run)
        part = f"{base}/part_0_0001.{'parquet' if file_format == 'parquet' else 'csv'}"
        fs, path = storage.filesystem(part)
        fs.makedirs(fs._parent(path), exist_ok=True)
        table = pa.concat_tables(days)
        with fs.open(path, "wb") as sink:
            if file_format == "parquet":
                pq.write_table(table, sink, row_group_size=max(1, days[0].num_rows))
            else:
                pv.write_csv(table, sink)
        manifest = {
            "manifestVersion": "2024-04-01",
            "dataRowCount": table.num_rows,
            "blobCount": 1,
            "exportConfig": {"exportName": export, "type": dataset, "timeFrame": "MonthToDate", "granularity": "Daily"},
            "deliveryConfig": {
                "partitionData": True,
                "fileFormat": file_format.capitalize(),
                "compressionMode": "None",
            },
            "runInfo": {"runId": run, "startDate": f"{month}T00:00:00"},
            "blobs": [{"blobName": "/".join(part.split("/")[-4:]), "dataRowCount": table.num_rows}],
        }
        mfs, mpath = storage.filesystem(f"{base}/manifest.json")
        mfs.pipe_file(mpath, json.dumps(manifest, indent=2).encode())
        written.append(part)
    return written
