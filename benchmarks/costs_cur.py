"""AWS CUR 2.0 cost reports: hub_ops's pyarrow path against DuckDB on the same aggregation.

`python -m benchmarks costs_cur [-- --rows N --days D --repeat R]`

Input: a generated CUR 2.0 export with split cost allocation data (hub_ops_dev.sample_cur) for
the AWS clusters of the 2i2c fleet (hub_ops_tests/data/2i2c-fleet, read as data: 20 clusters),
--rows rows (default 5 million) over --days days (default 30): one Parquet file under
BILLING_PERIOD=2026-10/, a row group per day, 25 columns, cached under ~/.cache/hub_ops/bench/.

Work measured: the month -> usage groups per day, account, EKS cluster, namespace and currency
with the CUR rules (pod split cost to the namespace, unused cost to idle, both taken off the
node rows, hub tags) plus the export's totals -> attribution -> the daily and monthly tables.
DuckDB does the same reduction in SQL in its own process, then the same attribution; the two
must give identical groups and totals, or the benchmark fails. Time is measured inside each
child around the work; peak is the child's VmHWM (see benchmarks/costs.py for why).
Targets (issue 14): hub_ops time <= DuckDB time, hub_ops peak <= 600 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from benchmarks.costs import CACHE, PEAK_TARGET_MB, cached, child_worker, duckdb_usage, month_result

START = dt.date(2026, 10, 1)
SEED = 20261014
REPO = Path(__file__).resolve().parents[1]
FLEET = REPO / "hub_ops_tests" / "data" / "2i2c-fleet"

_T = """
SELECT CAST(datediff('day', DATE '1970-01-01', CAST(line_item_usage_start_date AS DATE)) AS INTEGER) AS day,
  line_item_usage_account_id AS project, line_item_currency_code AS currency,
  line_item_operation = 'EKSPod-EC2' AS pod,
  line_item_line_item_type IN ('Credit', 'Refund', 'Discount', 'BundledDiscount', 'EdpDiscount', 'PrivateRateDiscount')
    AS credit,
  coalesce(resource_tags['aws_eks_cluster_name'], resource_tags['user_alpha_eksctl_io_cluster_name'],
    resource_tags['user_2i2c_org_cluster_name'],
    nullif(regexp_extract(line_item_resource_id, ':pod/([^/]+)/([^/]+)/', 1), '')) AS cluster,
  coalesce(resource_tags['aws_eks_namespace'],
    nullif(regexp_extract(line_item_resource_id, ':pod/([^/]+)/([^/]+)/', 2), '')) AS ns,
  resource_tags['user_2i2c_hub_name'] AS hub,
  CAST(round(coalesce(line_item_unblended_cost, 0) * 1e9) AS BIGINT) AS amount,
  CASE WHEN line_item_operation = 'EKSPod-EC2'
    THEN CAST(round(coalesce(split_line_item_split_cost, 0) * 1e9) AS BIGINT) ELSE 0 END AS split,
  CASE WHEN line_item_operation = 'EKSPod-EC2'
    THEN CAST(round(coalesce(split_line_item_unused_cost, 0) * 1e9) AS BIGINT) ELSE 0 END AS unused
FROM read_parquet($files)
WHERE line_item_usage_start_date >= $start AND line_item_usage_start_date < $end
"""
DUCKDB_GROUPS = f"""
WITH t AS ({_T})
SELECT day, project, cluster, namespace, currency,
  SUM(cost_nanos)::BIGINT AS cost_nanos, SUM(credits_nanos)::BIGINT AS credits_nanos, SUM(rows)::BIGINT AS rows
FROM (
  SELECT day, project, cluster,
    CASE WHEN pod THEN coalesce(ns, '') ELSE coalesce('hub-tag:' || hub, '') END AS namespace, currency,
    CASE WHEN credit THEN 0 ELSE amount END + split AS cost_nanos,
    CASE WHEN credit THEN amount ELSE 0 END AS credits_nanos, 1 AS rows FROM t
  UNION ALL SELECT day, project, cluster, 'eks:unused', currency, unused, 0, 0 FROM t WHERE pod
  UNION ALL SELECT day, project, cluster, '', currency, -(split + unused), 0, 0 FROM t WHERE pod
) GROUP BY ALL
"""
DUCKDB_TOTALS = f"""
WITH t AS ({_T})
SELECT day, currency, SUM(CASE WHEN credit THEN 0 ELSE amount END)::BIGINT AS cost_nanos,
  SUM(CASE WHEN credit THEN amount ELSE 0 END)::BIGINT AS credits_nanos, COUNT(*)::BIGINT AS rows
FROM t GROUP BY ALL
"""


def export_path(rows: int, days: int) -> Path:
    """Keyed by size, seed and the generator's source: a changed generator makes a new export."""
    key = hashlib.sha256((REPO / "hub_ops_dev" / "sample_cur.py").read_bytes()).hexdigest()[:10]
    return CACHE / f"cur-export-{rows}-rows-{days}-days-seed{SEED}-{key}"


def export_folder(rows: int, days: int) -> Path:
    return cached(export_path(rows, days), "benchmarks.costs_cur", rows, days)


def generate(rows: int, days: int) -> None:
    from hub_ops.fleet import load_fleet
    from hub_ops_dev.sample_cur import CurGenerator, write_export

    folder = export_path(rows, days)
    partial = folder.with_suffix(".partial")
    began = time.perf_counter()
    generator = CurGenerator(load_fleet(FLEET, check_files=False), seed=SEED)
    written = write_export(generator.days(START, days, -(-rows // days)), str(partial))
    partial.rename(folder)  # a half-written export is never mistaken for the cache
    print(f"generated {written:,} CUR rows in {time.perf_counter() - began:.1f} s -> {folder}")


def _duckdb_usage(con, folder: str, start: dt.date, end: dt.date):
    params = {
        "files": f"{folder}/**/*.parquet",
        "start": dt.datetime.combine(start, dt.time()),
        "end": dt.datetime.combine(end, dt.time()),
    }
    return duckdb_usage(con, DUCKDB_GROUPS, DUCKDB_TOTALS, params, f"duckdb:{folder}", start, end, "aws")


def worker(method: str, folder: str, days: int) -> dict:
    from hub_ops.costs.cur import CurExport
    from hub_ops.fleet import load_fleet

    fleet = load_fleet(FLEET, check_files=False)
    end = START + dt.timedelta(days=days)
    if method == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        began = time.perf_counter()
        usage = _duckdb_usage(con, folder, START, end)
    else:
        began = time.perf_counter()
        usage = CurExport(folder).aggregate(START, end)
    return month_result(usage, fleet, began)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks costs_cur", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3, help="runs per method, each reported")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        generate(*args.generate)
        return 0
    if args.worker:
        method, folder, days = args.worker
        print(json.dumps(worker(method, folder, int(days))))
        return 0

    folder = export_folder(args.rows, args.days)
    size = sum(p.stat().st_size for p in folder.rglob("*.parquet"))
    print(f"export: {folder.name}: {size / 2**20:.0f} MiB; {os.cpu_count()} CPUs (a shared machine, under load)")
    print(f"\n{'run':4} {'method':8} {'time s':>8} {'peak MB':>8} {'lines d/m':>10}")
    status = 0
    for run in range(1, args.repeat + 1):
        results = {}
        for method in ("hub_ops", "duckdb"):
            results[method] = r = child_worker("benchmarks.costs_cur", method, folder, args.days)
            lines = f"{r['daily_lines']:>5}/{r['monthly_lines']:<4}"
            print(f"{run:<4} {method:8} {r['seconds']:8.2f} {r['peak_mb']:8.0f} {lines}")
        ours, duck = results["hub_ops"], results["duckdb"]
        same = ours["digest"] == duck["digest"] and ours["net_total"] == duck["net_total"]
        print(
            f"{run:<4} ratios   time {ours['seconds'] / duck['seconds']:.2f}x, "
            f"peak {ours['peak_mb'] / duck['peak_mb']:.2f}x; "
            f"identical groups and totals: {same}; net {ours['net_total']:,.2f} over {ours['rows']:,} rows; "
            f"time <= DuckDB: {'met' if ours['seconds'] <= duck['seconds'] else 'MISSED'}, "
            f"peak <= {PEAK_TARGET_MB} MB: {'met' if ours['peak_mb'] <= PEAK_TARGET_MB else 'MISSED'}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        status |= 0 if same else 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
