"""The generator: deterministic, the export's schema, every kind of row a report must handle."""

from __future__ import annotations

import datetime as dt

import pyarrow.compute as pc
import pytest

from hub_ops.costs import schema as s
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import UNKNOWN_NAMESPACE_EXAMPLE, UNKNOWN_PROJECT_EXAMPLE, ExportGenerator
from hub_ops_tests.conftest import EXAMPLE_FLEET

DAY = dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
def generator():
    return ExportGenerator(load_fleet(EXAMPLE_FLEET), seed=7)


def _labels(table, key):
    flat = pc.list_flatten(table["labels"])
    keys, values = pc.struct_field(flat, "key"), pc.struct_field(flat, "value")
    return set(values.filter(pc.equal(keys, key)).to_pylist())


def test_same_seed_same_rows_other_seed_other_rows(generator):
    again = ExportGenerator(load_fleet(EXAMPLE_FLEET), seed=7)
    assert generator.day(DAY, 500).equals(again.day(DAY, 500))
    assert not generator.day(DAY, 500).equals(ExportGenerator(load_fleet(EXAMPLE_FLEET), seed=8).day(DAY, 500))


def test_schema_size_and_day(generator):
    table = generator.day(DAY, 1234)
    assert table.schema == s.DETAILED_EXPORT_SCHEMA
    assert table.num_rows == 1234
    days = set(pc.cast(table["usage_start_time"], "date32").to_pylist())
    assert days == {DAY}


def test_every_kind_of_row_appears_each_day(generator):
    table = generator.day(DAY, len(generator.templates))
    namespaces = _labels(table, s.NAMESPACE_LABEL)
    assert {
        "staging",
        "prod",
        "legacy",
        "ohw",
        "climatematch",
        "uni-teaching",
        "support",
        "kube-system",
        s.UNALLOCATED_NAMESPACE,
        s.SYSTEM_OVERHEAD_NAMESPACE,
        s.UNKNOWN_NAMESPACE,
        UNKNOWN_NAMESPACE_EXAMPLE,
    } <= namespaces
    assert _labels(table, s.CLUSTER_LABEL) == {"pangeo-hubs-cluster", "community-cluster", "community-cluster-sandbox"}
    assert UNKNOWN_PROJECT_EXAMPLE in set(pc.struct_field(table["project"], "id").to_pylist())
    assert pc.min(pc.list_value_length(table["labels"])).as_py() == 0  # untagged rows
    assert pc.max(pc.list_value_length(table["credits"])).as_py() >= 2  # repeated credits
    assert len(set(pc.struct_field(table["service"], "description").to_pylist())) >= 4
    assert len(set(pc.struct_field(table["sku"], "description").to_pylist())) >= 8
    credits = pc.struct_field(pc.list_flatten(table["credits"]), "amount")
    assert pc.max(credits).as_py() <= 0
