"""Reconciliation: a report's lines, read back from the written files, must add up to the
export's own net total for the period, to the cent."""

from __future__ import annotations

import dagster as dg

from hub_ops.costs.report import Reconciliation

RECONCILES = "reconciles_to_export"
DESCRIPTION = (
    "The exported lines' net_cost adds up to the billing export's net total (cost + credits) "
    "for the period, to the cent. Fails when a row was lost or counted twice."
)


def check_spec(asset_key: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(RECONCILES, asset=asset_key, description=DESCRIPTION)


def reconciliation_result(results: dict[str, Reconciliation], currency: str) -> dg.AssetCheckResult:
    """One check result over several reconciliations (one per file, or per day)."""
    failed = {name: r for name, r in results.items() if not r.ok}
    lines = [f"- {name}: {r.describe(currency)}" for name, r in (failed or results).items()]
    shown = lines[:40] + ([f"- ... and {len(lines) - 40} more"] if len(lines) > 40 else [])
    return dg.AssetCheckResult(
        check_name=RECONCILES,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "checked": len(results),
            "failed": len(failed),
            "details": dg.MetadataValue.md("\n".join(shown) or "nothing to check"),
        },
    )
