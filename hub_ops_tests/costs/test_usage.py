"""The reduction every source shares: label flattening, credits, days, exact sums."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from hub_ops.costs.schema import KEY_VALUE
from hub_ops.costs.usage import credit_sums, label_values, to_nanos, usage_days


def test_label_values_plain_and_dictionary_encoded():
    labels = pa.array(
        [
            [{"key": "k8s-namespace", "value": "prod"}, {"key": "goog-k8s-cluster-name", "value": "c1"}],
            [],
            None,
            [{"key": "purpose", "value": "x"}],
            [{"key": "goog-k8s-cluster-name", "value": "c2"}],
        ],
        pa.list_(KEY_VALUE),
    )
    expected = [["c1", None, None, None, "c2"], ["prod", None, None, None, None]]
    assert [a.to_pylist() for a in label_values(labels, "goog-k8s-cluster-name", "k8s-namespace")] == expected
    flat = labels.values
    encoded = pa.ListArray.from_arrays(
        labels.offsets,
        pa.StructArray.from_arrays(
            [flat.field("key").dictionary_encode(), flat.field("value").dictionary_encode()], names=["key", "value"]
        ),
        mask=labels.is_null(),
    )
    assert [a.to_pylist() for a in label_values(encoded, "goog-k8s-cluster-name", "k8s-namespace")] == expected
    assert label_values(encoded, "absent")[0].null_count == 5


def test_credit_sums_per_row_in_nanos():
    credits = pa.array(
        [[{"amount": -0.1}, {"amount": -0.2}], [], None, [{"amount": -1.000000001}]],
        pa.list_(pa.struct([("amount", pa.float64())])),
    )
    assert credit_sums(credits).tolist() == [-300_000_000, 0, 0, -1_000_000_001]


def test_to_nanos_rounds_half_away_from_zero_like_bigquery():
    assert to_nanos(pa.array([0.1, 2.5e-9, -2.5e-9, None])).tolist() == [100_000_000, 3, -3, 0]


def test_usage_days_from_timestamps_and_bigquery_text():
    text = pa.array(["2026-10-01 23:59:59 UTC", "2026-10-02T00:00:00Z", "2026-10-02 00:00:00.123456 UTC"])
    stamps = pa.array(
        np.array(["2026-10-01T23:59:59", "2026-10-02T00:00:00"], dtype="datetime64[us]"), pa.timestamp("us", tz="UTC")
    )
    first = (dt.date(2026, 10, 1) - dt.date(1970, 1, 1)).days
    assert usage_days(text).tolist() == [first, first + 1, first + 1]
    assert usage_days(stamps).tolist() == [first, first + 1]
