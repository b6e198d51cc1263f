"""Export rows by hand, for cases whose answer a person can compute on paper."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from hub_ops.costs.schema import CLUSTER_LABEL, DETAILED_EXPORT_SCHEMA, NAMESPACE_LABEL

DAY = dt.date(2026, 10, 5)


def row(
    project: str,
    cost: float,
    credits: tuple[float, ...] = (),
    cluster: str | None = None,
    namespace: str | None = None,
    day: dt.date = DAY,
    hour: int = 0,
    currency: str = "USD",
    labels: dict | None = None,
) -> dict:
    """One detailed-export row; other columns get plausible constants."""
    pairs = dict(labels or {})
    if cluster is not None:
        pairs[CLUSTER_LABEL] = cluster
    if namespace is not None:
        pairs[NAMESPACE_LABEL] = namespace
    start = dt.datetime.combine(day, dt.time(hour), dt.UTC)
    return {
        "billing_account_id": "01ABCD-234567-89EFAB",
        "service": {"id": "6F81-5844-456A", "description": "Compute Engine"},
        "sku": {"id": "BB77-5FDA-4A2C", "description": "N2 Instance Core running in Americas"},
        "usage_start_time": start,
        "usage_end_time": start + dt.timedelta(hours=1),
        "project": {
            "id": project,
            "number": "1",
            "name": project,
            "labels": [],
            "ancestry_numbers": None,
            "ancestors": [],
        },
        "labels": [{"key": k, "value": v} for k, v in pairs.items()],
        "system_labels": [],
        "location": None,
        "tags": [],
        "export_time": start + dt.timedelta(hours=5),
        "cost": cost,
        "currency": currency,
        "currency_conversion_rate": 1.0,
        "usage": None,
        "credits": [{"name": "c", "amount": a, "full_name": None, "id": "C", "type": "PROMOTION"} for a in credits],
        "invoice": {"month": day.strftime("%Y%m"), "publisher_type": "GOOGLE"},
        "cost_type": "regular",
        "adjustment_info": None,
        "resource": None,
        "price": None,
        "cost_at_list": cost,
        "transaction_type": "GOOGLE",
        "seller_name": "Google",
        "subscription": None,
    }


def table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=DETAILED_EXPORT_SCHEMA)


def write(path, rows: list[dict]) -> str:
    pq.write_table(table(rows), path)
    return str(path)


def exact_net_cents(export: pa.Table) -> int:
    """The export's net total in cents, computed with Decimal from the raw rows (no hub_ops code)."""
    total = Decimal(0)
    for r in export.select(["cost", "credits"]).to_pylist():
        total += Decimal(repr(r["cost"])) + sum((Decimal(repr(c["amount"])) for c in r["credits"] or ()), Decimal(0))
    return int((total * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def cents(column) -> int:
    return int(round(sum(round(float(v) * 100) for v in column)))


def exact_net_by_day(export: pa.Table) -> dict[str, Decimal]:
    """Net (cost + credits) per UTC day of usage_start_time, with Decimal from the raw rows as
    Python objects (no hub_ops code, no Arrow compute)."""
    totals: dict[str, Decimal] = {}
    for r in export.select(["usage_start_time", "cost", "credits"]).to_pylist():
        day = r["usage_start_time"].astimezone(dt.UTC).date().isoformat()
        amounts = [r["cost"] or 0.0] + [c["amount"] or 0.0 for c in r["credits"] or ()]
        totals[day] = totals.get(day, Decimal(0)) + sum((Decimal(repr(a)) for a in amounts), Decimal(0))
    return totals
