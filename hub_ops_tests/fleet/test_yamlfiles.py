"""YAML reading: fast loads, guards against silent mistakes, and lines for errors."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import yaml

from hub_ops.fleet.yamlfiles import (
    format_loc,
    line_of,
    load_data_file,
    load_yaml,
    parse_yaml,
    yaml_error_line,
    yaml_error_text,
)

DOC = """\
name: c1          # line 1
hubs:
- name: a         # line 3
  helm_chart_values_files:
  - a.values.yaml # line 5
  - b.values.yaml
- name: b         # line 7
  home: {pvc: x}  # line 8
"""


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (("hubs", 2, "domain"), "hubs[2].domain"),
        (("hubs", 0, "helm_chart_values_files", 1), "hubs[0].helm_chart_values_files[1]"),
        (("gcp", "billing", "bigquery"), "gcp.billing.bigquery"),
        ((), ""),
        ((0,), "[0]"),
    ],
)
def test_format_loc(loc, text):
    assert format_loc(loc) == text


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        (("name",), 1),
        (("hubs",), 2),
        (("hubs", 0), 3),
        (("hubs", 0, "helm_chart_values_files", 0), 5),
        (("hubs", 0, "helm_chart_values_files", 1), 6),
        (("hubs", 1), 7),
        (("hubs", 1, "home", "pvc"), 8),
        (("hubs", 1, "domain"), 7),  # missing key: the line of its parent
        (("hubs", 5, "name"), 2),  # no such item: the line of the list
        (("provider",), 1),  # missing at the top: the first line of the document
    ],
)
def test_line_of(tmp_path: Path, loc, line):
    path = tmp_path / "cluster.yaml"
    path.write_text(DOC)
    assert line_of(path, loc) == line


def test_line_of_unreadable_or_empty(tmp_path: Path):
    assert line_of(tmp_path / "missing.yaml", ("a",)) is None
    (tmp_path / "bad.yaml").write_text("a: [\n")
    assert line_of(tmp_path / "bad.yaml", ("a",)) is None
    (tmp_path / "empty.yaml").write_text("")
    assert line_of(tmp_path / "empty.yaml", ("a",)) is None


def test_line_of_sees_a_rewritten_file(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("a: 1\nb: 2\n")
    assert line_of(path, ("b",)) == 2
    path.write_text("x: 0\n\n\nb: 2\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new mtime even on coarse clocks
    assert line_of(path, ("b",)) == 4


def test_duplicate_keys_are_an_error_with_their_line():
    with pytest.raises(yaml.YAMLError) as info:
        parse_yaml("a: 1\nhub:\n  token: x\n  token: y\n")
    assert yaml_error_line(info.value) == 4
    assert yaml_error_text(info.value) == "invalid YAML: while constructing a mapping, found duplicate key 'token'"


def test_merge_keys_may_be_overridden():
    assert parse_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n") == {
        "base": {"x": 1, "y": 2},
        "c": {"x": 3, "y": 2},
    }


def test_impossible_dates_stay_strings_for_the_model_to_report():
    assert parse_yaml("a: 2026-13-01\nb: 2026-12-01\n") == {"a": "2026-13-01", "b": dt.date(2026, 12, 1)}


def test_yaml_errors_carry_line_and_no_absolute_path(tmp_path: Path):
    path = tmp_path / "x.yaml"
    path.write_text("a: 1\nb: [\n")
    with pytest.raises(yaml.YAMLError) as info:
        load_yaml(path)
    assert yaml_error_line(info.value) == 3
    assert yaml_error_text(info.value) == "invalid YAML: while parsing a flow node, did not find expected node content"
    path.write_bytes(b"a: \xff\n")
    with pytest.raises(yaml.YAMLError) as info:
        load_yaml(path)
    assert yaml_error_text(info.value) == "invalid YAML: cannot read character at byte 3 (invalid leading UTF-8 octet)"
    assert yaml_error_line(info.value) is None


def test_load_data_file_reads_json_as_json(tmp_path: Path):
    (tmp_path / "a.json").write_text('{"sops": {"version": "3.11.0"}, "x": [1, 2]}')
    assert load_data_file(tmp_path / "a.json") == {"sops": {"version": "3.11.0"}, "x": [1, 2]}
    (tmp_path / "b.json").write_text("x: 1\n")  # YAML, not JSON: refused
    with pytest.raises(ValueError):
        load_data_file(tmp_path / "b.json")
    (tmp_path / "c.yaml").write_text("x: 1\n")
    assert load_data_file(tmp_path / "c.yaml") == {"x": 1}
