"""Export files: Parquet, CSV and newline JSON (plain and gzip) read the same; the period,
bad input and mixed currencies."""

from __future__ import annotations

import datetime as dt
import gzip

import pytest

from hub_ops.costs import BillingExportError, MixedCurrencyError
from hub_ops.costs.readers import ExportFiles
from hub_ops.fleet import load_fleet
from hub_ops_dev.sample_billing import ExportGenerator, write_csv, write_ndjson, write_parquet
from hub_ops_tests.conftest import EXAMPLE_FLEET
from hub_ops_tests.costs.builders import DAY, row, write

START = dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    generator = ExportGenerator(load_fleet(EXAMPLE_FLEET), seed=3)
    write_parquet(generator.days(START, 3, 300), str(folder / "e.parquet"))
    with open(folder / "e.csv", "w") as f:
        write_csv(generator.days(START, 3, 300), f)
    with gzip.open(folder / "e.jsonl.gz", "wt") as f:
        write_ndjson(generator.days(START, 3, 300), f)
    return folder


@pytest.mark.parametrize("name", ["e.csv", "e.jsonl.gz"])
def test_every_format_gives_the_same_usage(exports, name):
    end = START + dt.timedelta(days=3)
    parquet = ExportFiles(str(exports / "e.parquet")).aggregate(START, end)
    other = ExportFiles(str(exports / name)).aggregate(START, end)
    assert len(parquet.groups) > 20
    assert other.groups.equals(parquet.groups)
    assert other.totals.equals(parquet.totals)


def test_only_the_period_is_read_and_counted(exports):
    one_day = ExportFiles(str(exports / "e.parquet")).aggregate(
        START + dt.timedelta(days=1), START + dt.timedelta(days=2)
    )
    assert one_day.rows_read == 300  # one row group of three; the others are skipped by statistics
    assert set(one_day.totals["day"]) == {START + dt.timedelta(days=1)}
    assert int(one_day.totals["rows"].sum()) == 300


def test_a_folder_reads_every_export_file_in_it(tmp_path):
    write(tmp_path / "a.parquet", [row("p", 1.0)])
    write(tmp_path / "sub-b.parquet", [row("p", 2.0, (-0.5,))])
    (tmp_path / "README.txt").write_text("not an export")
    usage = ExportFiles(str(tmp_path)).aggregate(DAY, DAY + dt.timedelta(days=1))
    assert usage.net_nanos == 2_500_000_000 and usage.rows_read == 2


def test_missing_column_names_the_file_and_the_column(tmp_path):
    path = write(tmp_path / "e.parquet", [row("p", 1.0)])
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(path).drop_columns(["credits"]), path)
    with pytest.raises(BillingExportError, match=r"e\.parquet: column credits\.amount missing"):
        ExportFiles(path).aggregate(DAY, DAY + dt.timedelta(days=1))


def test_csv_with_bad_json_in_a_nested_column(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(
        "usage_start_time,project,labels,cost,currency,credits\n"
        '2026-10-05 00:00:00 UTC,"{""id"":""p""}",[{oops,1.0,USD,[]\n'
    )
    with pytest.raises(BillingExportError, match=r"e\.csv: column labels is not JSON"):
        ExportFiles(str(path)).aggregate(DAY, DAY + dt.timedelta(days=1))


def test_no_export_files_and_no_such_path(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BillingExportError, match="no export files there"):
        ExportFiles(str(tmp_path)).aggregate(DAY, DAY)
    with pytest.raises(BillingExportError, match="no such file or folder"):
        ExportFiles(str(tmp_path / "missing")).aggregate(DAY, DAY)


def test_mixed_currencies_are_refused_with_the_file_and_both_currencies(tmp_path):
    write(tmp_path / "a.parquet", [row("p", 1.0)])
    write(tmp_path / "b.parquet", [row("p", 2.0, currency="EUR")])
    with pytest.raises(MixedCurrencyError, match=r"b\.parquet.*2 currencies \(EUR, USD\)"):
        ExportFiles(str(tmp_path)).aggregate(DAY, DAY + dt.timedelta(days=1))
