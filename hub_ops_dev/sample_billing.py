"""A deterministic, realistic detailed billing export for a fleet: any size, any period.

What it holds, per day: GKE cost-allocation rows (Compute Engine core/RAM and persistent disk)
for every hub namespace of the fleet's GCP clusters, for `support` and `kube-system`, for the
idle capacity (`kube:unallocated`), the system overhead (`kube:system-overhead`) and a little
`goog-k8s-unknown`; each cluster's management fee (cluster label, no namespace); untagged costs
of each cluster's project (NAT, network egress, a backup bucket); credits, several per row
(sustained use, a research promotion on some projects, the GKE free tier); and, so a report
shows them, rows of a GKE cluster the fleet does not know, of a namespace no hub owns, and of a
project outside the fleet. Every template appears at least once a day when rows_per_day
allows; the rest are drawn by weight. Same fleet, seed and day -> same rows, byte for byte.

Built with numpy and pyarrow `take` on a small table of row templates: 5 million rows take
seconds, never a Python loop per row.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hub_ops.costs import schema as s
from hub_ops.fleet import Fleet

BILLING_ACCOUNT = "01ABCD-234567-89EFAB"
UNKNOWN_NAMESPACE_EXAMPLE = "scratch-tests"
UNKNOWN_PROJECT_EXAMPLE = "hub-ops-billing-admin"

SERVICES = {
    "compute": ("6F81-5844-456A", "Compute Engine"),
    "gke": ("CCD8-9BF1-090E", "Kubernetes Engine"),
    "storage": ("95FF-2EF5-5EA1", "Cloud Storage"),
    "network": ("E505-1604-58F8", "Networking"),
    "bigquery": ("24E6-581D-38E5", "BigQuery"),
}
# sku key -> (service, sku id, description, usage unit, pricing unit, price per pricing unit, units per pricing unit)
SKUS = {
    "core": ("compute", "BB77-5FDA-4A2C", "N2 Instance Core running in Americas", "seconds", "hour", 0.031611, 3600.0),
    "ram": (
        "compute",
        "5B01-D157-A097",
        "N2 Instance Ram running in Americas",
        "byte-seconds",
        "gibibyte hour",
        0.004237,
        3600.0 * 2**30,
    ),
    "pd": (
        "compute",
        "D973-5D65-BAB2",
        "Storage PD Capacity",
        "byte-seconds",
        "gibibyte month",
        0.04,
        2**30 * 2_592_000.0,
    ),
    "zonal-fee": ("gke", "B561-BFBD-1264", "Zonal Kubernetes Clusters", "seconds", "hour", 0.1, 3600.0),
    "regional-fee": ("gke", "9B4B-2A0F-0C4B", "Regional Kubernetes Clusters", "seconds", "hour", 0.1, 3600.0),
    "nat-uptime": (
        "network",
        "2A87-76E3-8F2B",
        "Networking Cloud NAT Gateway Uptime charge",
        "seconds",
        "hour",
        0.0014,
        3600.0,
    ),
    "nat-data": (
        "network",
        "E1B1-2D3C-7D2A",
        "Networking Cloud NAT Data Processing",
        "bytes",
        "gibibyte",
        0.045,
        2**30,
    ),
    "egress": ("network", "DE9E-AFBC-A15A", "Network Inter Zone Data Transfer Out", "bytes", "gibibyte", 0.01, 2**30),
    "gcs": (
        "storage",
        "E5F0-6A5D-7BAD",
        "Standard Storage US Multi-region",
        "byte-seconds",
        "gibibyte month",
        0.026,
        2**30 * 2_592_000.0,
    ),
    "bq": ("bigquery", "3362-E469-6BEF", "Analysis", "bytes", "tebibyte", 6.25, 2**40),
}
SUSTAINED = ("Sustained Usage Discount", "SUSTAINED_USAGE_DISCOUNT", "SUSTAINED_USAGE_DISCOUNT", None)
RESEARCH = ("Research credits", "RESEARCH-CREDITS-2026", "PROMOTION", "Research credits for open science")
FREE_TIER = ("GKE free tier", "GKE-FREE-TIER", "FREE_TIER", None)


@dataclass
class Template:
    """One kind of export row: everything but the amounts and the hour."""

    sku: str
    project: str
    labels: list[tuple[str, str]]
    location: str
    resource: str
    hourly_cost: float  # mean cost of one row
    weight: float  # share of the day's rows
    credits: list[tuple[tuple, float]] = field(default_factory=list)  # (credit, fraction of cost)
    diurnal: bool = False  # follows users' working hours


def _region(location: str) -> str:
    return location[:-2] if location.count("-") == 2 else location


def _project_number(project: str) -> str:
    return str(100_000_000_000 + zlib.crc32(project.encode()) % 900_000_000_000)


def fleet_templates(fleet: Fleet) -> list[Template]:
    """Row templates for every GCP cluster of the fleet, plus the strays a real export has."""
    out: list[Template] = []
    gcp_clusters = [c for c in fleet.clusters.values() if c.provider == "gcp" and c.gcp]
    for index, cluster in enumerate(gcp_clusters):
        gcp = cluster.gcp
        pools = cluster.node_pools or ["core-pool", "user-pool"]
        core_pool = next((p for p in pools if "core" in p), pools[0])
        user_pool = next((p for p in pools if p != core_pool), core_pool)
        base = [(s.CLUSTER_LABEL, gcp.cluster), (s.LOCATION_LABEL, gcp.zone)]
        promo = [(RESEARCH, 0.3)] if index % 2 == 0 else []  # some projects run on research credits
        node = f"gke-{gcp.cluster}-{{pool}}-{zlib.crc32(gcp.cluster.encode()) % 0xFFFF:04x}"

        def workload(namespace: str, pool: str, weight: float, cost: float, extra=(), diurnal=False):
            labels = base + [(s.NODE_POOL_LABEL, pool), (s.NAMESPACE_LABEL, namespace), *extra]
            for sku, share in (("core", 0.62), ("ram", 0.38)):
                out.append(
                    Template(
                        sku,
                        gcp.project,
                        labels,
                        gcp.zone,
                        node.format(pool=pool),
                        cost * share,
                        weight,
                        [(SUSTAINED, 0.2), *promo],
                        diurnal,
                    )
                )

        for hub in cluster.hubs:
            heavy = 3.0 if hub.effective_tier == "prod" else 0.6
            extra = [
                (s.WORKLOAD_LABEL_PREFIX + "app", "jupyterhub"),
                (s.WORKLOAD_LABEL_PREFIX + "component", "singleuser-server"),
            ]
            workload(hub.effective_namespace, user_pool, heavy, 0.9 * heavy, extra, diurnal=True)
            workload(hub.effective_namespace, core_pool, 0.5, 0.15, [(s.WORKLOAD_LABEL_PREFIX + "component", "hub")])
            if hub.helm_chart == "daskhub":
                dask_pool = next((p for p in pools if "dask" in p), user_pool)
                workload(
                    hub.effective_namespace,
                    dask_pool,
                    heavy,
                    1.4 * heavy,
                    [(s.WORKLOAD_LABEL_PREFIX + "app.kubernetes.io/name", "dask-worker")],
                    diurnal=True,
                )
            out.append(
                Template(
                    "pd",
                    gcp.project,
                    base + [(s.NAMESPACE_LABEL, hub.effective_namespace)],
                    gcp.zone,
                    f"pvc-{zlib.crc32(hub.id.encode()):08x}",
                    0.05,
                    0.3,
                    promo,
                )
            )
        workload("support", core_pool, 1.0, 0.2, [(s.WORKLOAD_LABEL_PREFIX + "app", "prometheus")])
        workload("kube-system", core_pool, 1.0, 0.12)
        workload(s.UNALLOCATED_NAMESPACE, user_pool, 2.0, 0.7)
        workload(s.SYSTEM_OVERHEAD_NAMESPACE, core_pool, 1.0, 0.1)
        workload(s.UNKNOWN_NAMESPACE, core_pool, 0.1, 0.01)
        fee = "zonal-fee" if gcp.zone.count("-") == 2 else "regional-fee"
        out.append(
            Template(fee, gcp.project, base, gcp.zone, gcp.cluster, 0.1, 0.2, [(FREE_TIER, 1.0)] if index == 0 else [])
        )
        # untagged costs of the cluster's project; bucket labels are not GKE labels
        region = _region(gcp.zone)
        out.append(Template("nat-uptime", gcp.project, [], region, f"{gcp.cluster}-nat", 0.0014, 0.3))
        out.append(Template("nat-data", gcp.project, [], region, f"{gcp.cluster}-nat", 0.02, 0.6))
        out.append(Template("egress", gcp.project, [], region, "", 0.03, 0.8, promo))
        out.append(
            Template(
                "gcs", gcp.project, [("purpose", "user-home-backups")], "us", f"{gcp.project}-backups", 0.04, 0.4, promo
            )
        )
        if index == 0:  # a GKE cluster in the fleet's project that the fleet does not declare
            stray = [(s.CLUSTER_LABEL, f"{gcp.cluster}-sandbox"), (s.LOCATION_LABEL, gcp.zone)]
            out.append(
                Template(
                    "core",
                    gcp.project,
                    stray + [(s.NAMESPACE_LABEL, "default")],
                    gcp.zone,
                    f"gke-{gcp.cluster}-sandbox-pool",
                    0.05,
                    0.05,
                    [(SUSTAINED, 0.2)],
                )
            )
        if index == len(gcp_clusters) - 1:  # a namespace no hub owns
            out.append(
                Template(
                    "core",
                    gcp.project,
                    base + [(s.NODE_POOL_LABEL, user_pool), (s.NAMESPACE_LABEL, UNKNOWN_NAMESPACE_EXAMPLE)],
                    gcp.zone,
                    node.format(pool=user_pool),
                    0.08,
                    0.05,
                    [(SUSTAINED, 0.2)],
                )
            )
    # a project of the billing account outside the fleet
    out.append(Template("bq", UNKNOWN_PROJECT_EXAMPLE, [], "US", "", 0.02, 0.1))
    return out


def _kv(pairs: list[tuple[str, str]]) -> list[dict]:
    return [{"key": k, "value": v} for k, v in pairs]


def _template_table(templates: list[Template]) -> pa.Table:
    """The columns that do not change from row to row of one template."""
    rows = []
    for t in templates:
        service, sku_id, sku_desc, unit, pricing_unit, price, per_unit = SKUS[t.sku]
        service_id, service_desc = SERVICES[service]
        region = _region(t.location)
        rows.append(
            {
                "billing_account_id": BILLING_ACCOUNT,
                "service": {"id": service_id, "description": service_desc},
                "sku": {"id": sku_id, "description": sku_desc},
                "project": {
                    "id": t.project,
                    "number": _project_number(t.project),
                    "name": t.project,
                    "labels": [],
                    "ancestry_numbers": f"/123456789012/{_project_number(t.project)}/",
                    "ancestors": [
                        {"resource_name": f"projects/{_project_number(t.project)}", "display_name": t.project},
                        {"resource_name": "organizations/123456789012", "display_name": "example.org"},
                    ],
                },
                "labels": _kv(t.labels),
                "system_labels": _kv(
                    [
                        ("compute.googleapis.com/machine_spec", "n2-highmem-4"),
                        ("compute.googleapis.com/cores", "4"),
                        ("compute.googleapis.com/memory", "32768"),
                    ]
                )
                if SKUS[t.sku][0] == "compute" and t.sku != "pd"
                else [],
                "location": {
                    "location": t.location,
                    "country": "US",
                    "region": region,
                    "zone": t.location if t.location.count("-") == 2 else None,
                },
                "tags": [],
                "currency": "USD",
                "currency_conversion_rate": 1.0,
                "usage": {"amount": 0.0, "unit": unit, "amount_in_pricing_units": 0.0, "pricing_unit": pricing_unit},
                "cost_type": "regular",
                "adjustment_info": None,
                "resource": {
                    "name": t.resource or None,
                    "global_name": f"//compute.googleapis.com/projects/{t.project}/zones/{t.location}"
                    f"/instances/{t.resource}"
                    if t.resource
                    else None,
                },
                "price": {
                    "effective_price": price,
                    "tier_start_amount": 0.0,
                    "unit": pricing_unit,
                    "pricing_unit_quantity": 1.0,
                },
                "transaction_type": "GOOGLE",
                "seller_name": "Google",
                "subscription": None,
            }
        )
    names = [f.name for f in s.DETAILED_EXPORT_SCHEMA if f.name in rows[0]]
    return pa.Table.from_pylist(rows, schema=pa.schema([s.DETAILED_EXPORT_SCHEMA.field(n) for n in names]))


def draw_rows(
    rng: np.random.Generator, weights: np.ndarray, diurnal: np.ndarray, day: dt.date, rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(template, hour, activity factor) of a day's rows, sorted by hour: every template once
    when rows allow, the rest drawn by weight; diurnal templates follow working hours."""
    first = np.arange(min(rows, len(weights)))
    template = np.concatenate([first, rng.choice(len(weights), size=rows - len(first), p=weights)])
    hour = np.concatenate([first % 24, rng.integers(0, 24, size=rows - len(first))])
    order = np.lexsort((template, hour))
    template, hour = template[order], hour[order]
    weekday = 1.0 if day.weekday() < 5 else 0.55  # people use hubs less at weekends
    activity = np.where(diurnal[template], weekday * (0.3 + 1.4 * np.exp(-(((hour - 16) / 4.0) ** 2))), 1.0)
    return template, hour, activity


@dataclass
class ExportGenerator:
    """Generates days of a detailed export for a fleet (see the module docstring)."""

    fleet: Fleet
    seed: int = 0
    templates: list[Template] = field(init=False)
    _table: pa.Table = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.templates = fleet_templates(self.fleet)
        self._table = _template_table(self.templates)
        self._weights = np.array([t.weight for t in self.templates])
        self._weights /= self._weights.sum()
        self._hourly = np.array([t.hourly_cost for t in self.templates])
        self._diurnal = np.array([t.diurnal for t in self.templates])
        self._price = np.array([SKUS[t.sku][5] for t in self.templates])
        self._per_unit = np.array([SKUS[t.sku][6] for t in self.templates])
        credit_rows = [
            (t_index, credit, fraction) for t_index, t in enumerate(self.templates) for credit, fraction in t.credits
        ]
        self._credit_count = np.bincount([c[0] for c in credit_rows], minlength=len(self.templates))
        self._credit_start = np.cumsum(self._credit_count) - self._credit_count
        self._credit_table = pa.table(
            {
                "name": [c[1][0] for c in credit_rows],
                "full_name": [c[1][3] for c in credit_rows],
                "id": [c[1][1] for c in credit_rows],
                "type": [c[1][2] for c in credit_rows],
            }
        )
        self._credit_fraction = np.array([c[2] for c in credit_rows], dtype=float)

    def day(self, day: dt.date, rows: int) -> pa.Table:
        """The export rows whose usage starts on `day` (UTC), sorted by usage_start_time."""
        rng = np.random.default_rng([self.seed, day.toordinal()])
        template, hour, activity = draw_rows(rng, self._weights, self._diurnal, day, rows)
        cost = np.round(self._hourly[template] * activity * rng.lognormal(0.0, 0.5, size=rows), 6)
        usage_amount = cost / self._price[template] * self._per_unit[template]

        counts = self._credit_count[template]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        row_of_credit = np.repeat(np.arange(rows), counts)
        credit_index = np.repeat(self._credit_start[template], counts) + (
            np.arange(offsets[-1]) - np.repeat(offsets[:-1], counts)
        )
        amounts = -np.round(cost[row_of_credit] * self._credit_fraction[credit_index], 6)
        credit_fields = self._credit_table.take(pa.array(credit_index))
        credits = pa.ListArray.from_arrays(
            pa.array(offsets),
            pa.StructArray.from_arrays(
                [
                    credit_fields["name"].combine_chunks(),
                    pa.array(amounts, pa.float64()),
                    credit_fields["full_name"].combine_chunks(),
                    credit_fields["id"].combine_chunks(),
                    credit_fields["type"].combine_chunks(),
                ],
                fields=list(s.CREDIT),
            ),
            type=pa.list_(s.CREDIT),
        )

        midnight = np.datetime64(day, "us")
        start = midnight + hour.astype("timedelta64[h]")
        export_lag = rng.integers(2 * 3600, 30 * 3600, size=rows).astype("timedelta64[s]")
        base = self._table.take(pa.array(template))
        usage = pa.StructArray.from_arrays(
            [
                pa.array(usage_amount),
                base["usage"].combine_chunks().field("unit"),
                pa.array(cost / self._price[template]),
                base["usage"].combine_chunks().field("pricing_unit"),
            ],
            fields=list(s.DETAILED_EXPORT_SCHEMA.field("usage").type),
        )
        columns = {
            **{name: base[name] for name in base.column_names},
            "usage_start_time": pa.array(start, s.DETAILED_EXPORT_SCHEMA.field("usage_start_time").type),
            "usage_end_time": pa.array(
                start + np.timedelta64(1, "h"), s.DETAILED_EXPORT_SCHEMA.field("usage_end_time").type
            ),
            "export_time": pa.array(
                start + np.timedelta64(1, "h") + export_lag, s.DETAILED_EXPORT_SCHEMA.field("export_time").type
            ),
            "cost": pa.array(cost),
            "usage": usage,
            "credits": credits,
            "invoice": pa.array(
                [{"month": day.strftime("%Y%m"), "publisher_type": "GOOGLE"}] * 1,
                s.DETAILED_EXPORT_SCHEMA.field("invoice").type,
            ).take(pa.array(np.zeros(rows, dtype=np.int64))),
            "cost_at_list": pa.array(np.round(cost * 1.0, 6)),
        }
        return pa.table([columns[f.name] for f in s.DETAILED_EXPORT_SCHEMA], schema=s.DETAILED_EXPORT_SCHEMA)

    def days(self, start: dt.date, days: int, rows_per_day: int) -> Iterator[pa.Table]:
        for offset in range(days):
            yield self.day(start + dt.timedelta(days=offset), rows_per_day)


# ------------------------------------------------------------------ writing files


def write_parquet(tables: Iterable[pa.Table], sink) -> int:
    """Writes the days as one Parquet file, a row group per day (as a daily export job would).
    `sink` is a path or a writable binary file object (fsspec). Returns the number of rows."""
    rows = 0
    with pq.ParquetWriter(sink, s.DETAILED_EXPORT_SCHEMA, compression="snappy") as writer:
        for table in tables:
            writer.write_table(table, row_group_size=max(1, table.num_rows))
            rows += table.num_rows
    return rows


def _bq_timestamp(value: dt.datetime | None) -> str | None:
    # how BigQuery writes a TIMESTAMP in JSON and CSV exports
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def _json_rows(table: pa.Table) -> Iterator[dict]:
    timestamps = [f.name for f in table.schema if pa.types.is_timestamp(f.type)]
    for row in table.to_pylist():
        for name in timestamps:
            row[name] = _bq_timestamp(row[name])
        yield row


def write_ndjson(tables: Iterable[pa.Table], sink: io.TextIOBase) -> int:
    """Newline-delimited JSON as BigQuery's EXPORT DATA (format JSON) writes it."""
    rows = 0
    for table in tables:
        for row in _json_rows(table):
            sink.write(json.dumps(row, separators=(",", ":")) + "\n")
            rows += 1
    return rows


def write_csv(tables: Iterable[pa.Table], sink: io.TextIOBase) -> int:
    """CSV with every RECORD/REPEATED column as JSON text (BigQuery exports no nested CSV)."""
    import csv

    names = s.DETAILED_EXPORT_SCHEMA.names
    nested = {f.name for f in s.DETAILED_EXPORT_SCHEMA if pa.types.is_nested(f.type)}
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(names)
    rows = 0
    for table in tables:
        for row in _json_rows(table):
            writer.writerow(
                [
                    json.dumps(row[n], separators=(",", ":"))
                    if n in nested and row[n] is not None
                    else ("" if row[n] is None else row[n])
                    for n in names
                ]
            )
            rows += 1
    return rows
