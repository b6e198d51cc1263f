"""table: rows become a native table whose column types come from the values."""

import dagster as dg
import pandas as pd

from hub_ops.defs.shared.metadata import table
from hub_ops_tests.tables import rows


def test_rows_keep_numbers_as_numbers():
    value = table(
        [
            {"hub": "a/prod", "cost": 1.5, "users": 3, "ok": True},
            {"hub": "b/prod", "cost": 2, "users": None, "ok": False},
        ]
    )
    assert isinstance(value, dg.TableMetadataValue)
    assert {c.name: c.type for c in value.schema.columns} == {
        "hub": "string",
        "cost": "float",
        "users": "int",
        "ok": "bool",
    }
    assert rows(value)[1] == {"hub": "b/prod", "cost": 2, "users": None, "ok": False}


def test_a_dataframe_with_numpy_values_and_nan():
    frame = pd.DataFrame({"day": ["2026-11-30", "2026-12-01"], "net": [411.63, float("nan")], "n": [1, 2]})
    value = table(frame)
    assert [c.name for c in value.schema.columns] == ["day", "net", "n"]
    assert rows(value) == [{"day": "2026-11-30", "net": 411.63, "n": 1}, {"day": "2026-12-01", "net": None, "n": 2}]
    assert all(type(v) in (str, int, float, type(None)) for r in rows(value) for v in r.values())


def test_an_empty_table_keeps_its_header_and_other_values_become_text():
    assert [c.name for c in table([], ["hub", "why"]).schema.columns] == ["hub", "why"]
    assert rows(table([{"when": pd.Timestamp("2026-12-01")}])) == [{"when": "2026-12-01 00:00:00"}]
