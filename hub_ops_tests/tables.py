"""Reading a native table back as the UI shows it."""

import dagster as dg


def rows(value) -> list[dict]:
    """The rows of table metadata (a MetadataValue or a check/materialization entry); fails
    when the value is not a native table (a markdown table hides behind a click)."""
    value = getattr(value, "value", value) if not isinstance(value, dg.TableMetadataValue) else value
    assert isinstance(value, dg.TableMetadataValue), f"expected a native table, got {type(value).__name__}"
    return [record.data for record in value.records]
