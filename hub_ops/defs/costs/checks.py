"""Reconciliation: the report files, read back as written, must add up to the billing export's
net total re-read through an independent path (hub_ops.costs.crosscheck), day by day and in
total, within the rounding to cents; and be in the export's currency."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import dagster as dg

from hub_ops.defs.shared.metadata import table

if TYPE_CHECKING:  # pandas, pyarrow: imported by the check, not by every load of the definitions
    from hub_ops.costs.crosscheck import CrossCheck

RECONCILES = "reconciles_to_export"
DESCRIPTION = (
    "The written files' net_cost (CSV and Parquet, read back) adds up to the billing export's net total "
    "(cost + credits) re-read independently of the report's reader (pyarrow.dataset over the files, or a "
    "separate SUM query in BigQuery), per day and in total, within half a cent per rounded figure. "
    "Fails when a row was lost or counted twice, or when the report's reader misread the export "
    "(credits dropped, a file read twice, an amount or currency mis-parsed)."
)


def check_spec(asset_key: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(RECONCILES, asset=asset_key, description=DESCRIPTION)


def _money(value: Decimal | None) -> float | None:
    # a float keeps the nanos of a day's or a month's total (< 15 digits) and sorts as a number
    return None if value is None else float(value)


def reconciliation_rows(check: CrossCheck) -> tuple[list[dict], list[str]]:
    """(rows, columns): per figure (a day, or the total) each written file's sum, the independent
    net, the report reader's total, the difference (file - independent) and the verdict."""
    formats = sorted({f for c in check.comparisons for f in c.files})
    rows = [
        {
            "figure": c.label,
            **{f: _money(c.files.get(f)) for f in formats},
            "independent": _money(c.independent),
            "report reader": _money(c.reader),
            "difference": _money(c.difference),
            "tolerance": _money(c.tolerance),
            "verdict": "ok" if c.ok else "FAILS",
        }
        for c in check.comparisons
    ]
    return rows, ["figure", *formats, "independent", "report reader", "difference", "tolerance", "verdict"]


def reconciliation_result(check: CrossCheck) -> dg.AssetCheckResult:
    """The check's verdict with a table of report vs independent totals for people."""
    from hub_ops.costs.crosscheck import HALF_CENT, SLACK

    largest = max((c.difference for c in check.comparisons), key=abs, default=0)
    return dg.AssetCheckResult(
        check_name=RECONCILES,
        passed=check.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "reconciliation": table(*reconciliation_rows(check)),
            "checked": len(check.comparisons),
            "failed": len(check.failed),
            "largest_difference": dg.MetadataValue.float(float(largest)),
            "currency_agrees": check.currency_ok,
            "currencies": f"report {check.currency or 'none'}, export (re-read) "
            + (", ".join(sorted(check.net.currencies)) or "none"),
            "tolerance": f"{HALF_CENT} per rounded figure (a day; the month) + {SLACK} {check.currency}".strip(),
            "independent_read": check.net.how,
        },
    )
