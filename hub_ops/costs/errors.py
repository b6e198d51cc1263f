"""Errors a person can act on: which export (file or table), which column, what is wrong."""

from __future__ import annotations


class BillingExportError(Exception):
    """The billing export cannot be read as the detailed export: names the source and the problem."""


class MixedCurrencyError(BillingExportError):
    """The rows of one report are in more than one currency: hub_ops never adds them up."""

    def __init__(self, source: str, currencies: list[str], start, end):
        self.currencies = sorted(currencies)
        super().__init__(
            f"{source}: rows between {start} and {end} are in {len(self.currencies)} currencies "
            f"({', '.join(self.currencies)}); a cost report adds amounts of one currency only. "
            "Each Cloud Billing account exports in its own currency: point costs.billing at one "
            "account's export, or split the export by currency before reporting."
        )
