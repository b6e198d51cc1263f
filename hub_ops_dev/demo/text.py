"""Native table metadata as terminal lines, for the demo's printout."""

from __future__ import annotations


def table_lines(value) -> list[str]:
    """A MetadataValue.table (what the UI renders) as aligned text lines."""
    import pandas as pd

    frame = pd.DataFrame([record.data for record in value.records], columns=[c.name for c in value.schema.columns])
    return frame.fillna("").to_string(index=False).splitlines()
