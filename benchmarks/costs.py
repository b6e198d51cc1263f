"""Cost reports: hub_ops's pandas/pyarrow path against DuckDB on the same aggregation.

`python -m benchmarks costs [-- --rows N --days D --repeat R]`

Input: a generated detailed billing export of --rows rows (default 5 million) over --days days
(default 30), one Parquet file with a row group per day, cached under
~/.cache/hub_ops/bench/ (keyed by size, seed and the generator's source, so a changed
generator makes a new file).

Work measured, for each method, two ways:
- "month": one pass over the month -> usage groups per day, project, GKE cluster, namespace
  and currency (+ the export's own totals) -> attribution -> the daily and the monthly report
  tables (what monthly_cost_report and `hub-ops cost-report` do);
- "days+month": each day on its own (as the 30 hub_daily_costs partitions run), then the month.
DuckDB does the same reduction in SQL (labels flattened with list_filter, credits summed with
list_sum, amounts as BIGINT nanos) in the same kind of process, then the same attribution; the
two must give identical groups and totals, or the benchmark fails.

Time and memory: each method runs in a child process of its own; the time is measured inside
it around the work only (imports excluded, they are the same for every run), and the peak
memory is the child's peak resident set size, VmHWM of /proc/self/status read at its end: it
counts everything (interpreter, libraries, Arrow's memory pool, allocator caches), the number a
pod's memory limit sees. Not ru_maxrss from wait4: Linux folds the pre-exec image (a forked
copy of this parent, which generated the file) into it. The file is generated in a child too.
Targets (issue 6): pandas time <= DuckDB time, pandas peak <= 600 MB.

Then the whole `hub-ops cost-report` command (issue 17), chart included, on the 2i2c fleet
(hub_ops_tests/data/2i2c-fleet, a copy of ../shared/fixtures/2i2c-fleet) over a generated export
of --fleet-rows rows for the month: the command's wall time as a child process (interpreter
start and imports included), and, in another child, the chart alone (daily_chart_png on that
month's daily table). Target: the chart well under a second whatever the number of hubs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

START = dt.date(2026, 10, 1)
SEED = 20261001
CACHE = Path.home() / ".cache" / "hub_ops" / "bench"
PEAK_TARGET_MB = 600

DUCKDB_GROUPS = """
SELECT CAST(datediff('day', DATE '1970-01-01', CAST(usage_start_time AS DATE)) AS INTEGER) AS day,
  project.id AS project,
  list_filter(labels, lambda l: l.key = 'goog-k8s-cluster-name')[1].value AS cluster,
  list_filter(labels, lambda l: l.key = 'k8s-namespace')[1].value AS namespace,
  currency,
  SUM(CAST(round(cost * 1e9) AS BIGINT)) AS cost_nanos,
  SUM(COALESCE(list_sum(list_transform(credits, lambda c: CAST(round(c.amount * 1e9) AS BIGINT))), 0)) AS credits_nanos,
  COUNT(*) AS rows
FROM read_parquet($file)
WHERE usage_start_time >= $start AND usage_start_time < $end
GROUP BY ALL
"""
DUCKDB_TOTALS = """
SELECT CAST(datediff('day', DATE '1970-01-01', CAST(usage_start_time AS DATE)) AS INTEGER) AS day, currency,
  SUM(CAST(round(cost * 1e9) AS BIGINT)) AS cost_nanos,
  SUM(COALESCE(list_sum(list_transform(credits, lambda c: CAST(round(c.amount * 1e9) AS BIGINT))), 0)) AS credits_nanos,
  COUNT(*) AS rows
FROM read_parquet($file)
WHERE usage_start_time >= $start AND usage_start_time < $end
GROUP BY ALL
"""


REPO = Path(__file__).resolve().parents[1]
FLEETS = {"example": REPO / "deployments", "2i2c": REPO / "hub_ops_tests" / "data" / "2i2c-fleet"}
CHART_TARGET_S = 1.0


def export_path(rows: int, days: int, fleet: str = "example") -> Path:
    key = hashlib.sha256((REPO / "hub_ops_dev" / "sample_billing.py").read_bytes()).hexdigest()[:10]
    name = "costs-export" if fleet == "example" else f"costs-export-{fleet}"
    return CACHE / f"{name}-{rows}-rows-{days}-days-seed{SEED}-{key}.parquet"


def export_file(rows: int, days: int, fleet: str = "example") -> Path:
    return cached(export_path(rows, days, fleet), "benchmarks.costs", rows, days, fleet)


def cached(path: Path, module: str, *generate_args: object) -> Path:
    """The cached export at `path`, generated on first use by `python -m <module> --generate
    <generate_args>` in a child process (this one stays small)."""
    if not path.exists():
        subprocess.run([sys.executable, "-m", module, "--generate", *map(str, generate_args)], check=True, cwd=REPO)
    return path


def generate(rows: int, days: int, fleet_name: str = "example") -> None:
    path = export_path(rows, days, fleet_name)
    from hub_ops.fleet import load_fleet
    from hub_ops_dev.sample_billing import ExportGenerator, write_parquet

    CACHE.mkdir(parents=True, exist_ok=True)
    fleet = load_fleet(FLEETS[fleet_name])
    per_day = -(-rows // days)
    began = time.perf_counter()
    partial = path.with_suffix(".partial")
    written = write_parquet(ExportGenerator(fleet, seed=SEED).days(START, days, per_day), str(partial))
    partial.rename(path)  # a half-written file is never mistaken for the cache
    print(
        f"generated {written:,} rows in {time.perf_counter() - began:.1f} s -> {path} "
        f"({path.stat().st_size / 2**20:.0f} MiB)"
    )


# ------------------------------------------------------------------ the two methods (child side)


def _duckdb_usage(con, file: str, start: dt.date, end: dt.date):
    params = {
        "file": file,
        "start": dt.datetime.combine(start, dt.time(), dt.UTC),
        "end": dt.datetime.combine(end, dt.time(), dt.UTC),
    }
    return duckdb_usage(con, DUCKDB_GROUPS, DUCKDB_TOTALS, params, f"duckdb:{file}", start, end)


def duckdb_usage(con, groups_sql: str, totals_sql: str, params: dict, source: str, start, end, provider="gcp"):
    """A Usage from DuckDB's groups and totals queries (day as days since 1970), through the
    same accumulator as hub_ops's readers, so the two compare as equals."""
    import pyarrow as pa

    from hub_ops.costs.usage import UsageAccumulator

    accumulator = UsageAccumulator(source, start, end, provider=provider)
    groups = con.sql(groups_sql, params=params).to_arrow_table()
    totals = con.sql(totals_sql, params=params).to_arrow_table()
    accumulator.add_groups(
        groups.cast(pa.schema([(f.name, pa.int32() if f.name == "day" else f.type) for f in groups.schema])),
        totals.cast(pa.schema([(f.name, pa.int32() if f.name == "day" else f.type) for f in totals.schema])),
    )
    accumulator.rows_read = int(totals.column("rows").to_numpy().sum()) if totals.num_rows else 0
    return accumulator.result()


def worker(method: str, mode: str, file: str, days: int) -> dict:
    from hub_ops.costs import CostReport
    from hub_ops.costs.readers import ExportFiles
    from hub_ops.fleet import load_fleet

    fleet = load_fleet(REPO / "deployments")
    end = START + dt.timedelta(days=days)
    if method == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        read = lambda a, b: _duckdb_usage(con, file, a, b)  # noqa: E731
    else:
        read = lambda a, b: ExportFiles(file).aggregate(a, b)  # noqa: E731

    began = time.perf_counter()
    if mode == "days+month":
        for offset in range(days):
            day = START + dt.timedelta(days=offset)
            CostReport.build(read(day, day + dt.timedelta(days=1)), fleet).table("date")
    usage = read(START, end)
    return month_result(usage, fleet, began)


def month_result(usage, fleet, began: float) -> dict:
    """Attributes the month's usage, makes the daily and monthly tables, stops the clock started
    at `began`; the figures a run reports, with a digest of the groups and totals to compare."""
    from hub_ops.costs import CostReport

    report = CostReport.build(usage, fleet)
    daily, monthly = report.table("date"), report.table("month")
    seconds = time.perf_counter() - began
    digest = hashlib.sha256(
        usage.groups.to_csv(index=False).encode() + usage.totals.to_csv(index=False).encode()
    ).hexdigest()
    return {
        "seconds": seconds,
        "digest": digest,
        "peak_mb": _peak_rss_mb(),
        "net_total": report.export_totals()["net_cost"],
        "rows": int(usage.totals["rows"].sum()),
        "daily_lines": len(daily),
        "monthly_lines": len(monthly),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident set size since its exec (VmHWM, kB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def measure(method: str, mode: str, file: Path, days: int) -> dict:
    return child_worker("benchmarks.costs", method, mode, file, days)


def child_worker(module: str, *args) -> dict:
    """Runs `python -m <module> --worker ARGS` in a child process: the figures it measured."""
    child = subprocess.run(
        [sys.executable, "-m", module, "--worker", *map(str, args)],
        stdout=subprocess.PIPE,
        cwd=REPO,
        check=True,
    )
    return json.loads(child.stdout.decode().strip().splitlines()[-1])


def chart_worker(file: str, month: str) -> dict:
    """The 2i2c fleet's month: report tables, then the chart alone, timed."""
    from hub_ops.costs import CostReport
    from hub_ops.costs.readers import ExportFiles
    from hub_ops.costs.report import daily_chart_png
    from hub_ops.fleet import load_fleet

    start = dt.datetime.strptime(month, "%Y-%m").date()
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    daily = CostReport.build(ExportFiles(file).aggregate(start, end), load_fleet(FLEETS["2i2c"])).table("date")
    daily_chart_png(daily.head(50), "warm-up")  # matplotlib's font cache and first figure, once
    began = time.perf_counter()
    png = daily_chart_png(daily, f"Net cost per hub per day, {month}")
    hubs = daily.loc[daily["hub"] != "", ["cluster", "hub"]].drop_duplicates()
    return {"seconds": time.perf_counter() - began, "hubs": len(hubs), "png_bytes": len(png)}


def command_benchmark(rows: int, repeat: int) -> int:
    """`hub-ops cost-report` on the 2i2c fleet, whole command, and its chart alone."""
    import tempfile

    month = START.strftime("%Y-%m")
    days = ((START.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - START).days
    file = export_file(rows, days, "2i2c")
    command = [str(Path(sys.executable).parent / "hub-ops"), "--fleet", str(FLEETS["2i2c"]), "cost-report"]
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            began = time.perf_counter()
            done = subprocess.run(
                [*command, "--month", month, "--export", str(file), "--out", out], capture_output=True, cwd=REPO
            )
            times.append(time.perf_counter() - began)
            if done.returncode:
                print(done.stdout.decode()[-2000:], done.stderr.decode()[-2000:])
                return 1
            chart_kb = (Path(out) / f"{month}.png").stat().st_size / 1024
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.costs", "--chart-worker", str(file), month],
        stdout=subprocess.PIPE,
        cwd=REPO,
        check=True,
    )
    chart = json.loads(child.stdout.decode().strip().splitlines()[-1])
    print(
        f"\nhub-ops cost-report, 2i2c fleet, {month}: {rows:,} export rows, {chart['hubs']} hubs with costs; "
        f"whole command {min(times):.2f} s (best of {repeat}; interpreter and imports included); "
        f"chart alone {chart['seconds']:.2f} s ({chart_kb:.0f} KiB PNG); "
        f"chart < {CHART_TARGET_S:.0f} s: {'met' if chart['seconds'] < CHART_TARGET_S else 'MISSED'}"
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks costs", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=1, help="runs per method; the best time and peak are kept")
    parser.add_argument("--fleet-rows", type=int, default=1_000_000, help="export rows for the 2i2c command run")
    parser.add_argument(
        "--part", choices=("all", "engines", "command"), default="all", help="engines: pandas vs DuckDB only"
    )
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--chart-worker", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        generate(int(args.generate[0]), int(args.generate[1]), args.generate[2])
        return 0
    if args.chart_worker:
        print(json.dumps(chart_worker(*args.chart_worker)))
        return 0
    if args.part == "command":
        return command_benchmark(args.fleet_rows, args.repeat)
    if args.worker:
        method, mode, file, days = args.worker
        print(json.dumps(worker(method, mode, file, int(days))))
        return 0

    file = export_file(args.rows, args.days)
    print(
        f"export: {file.name}: {args.rows:,} rows, {args.days} days, {file.stat().st_size / 2**20:.0f} MiB; "
        f"{os.cpu_count()} CPUs (a shared machine: other work runs beside this)"
    )
    status = 0
    print(f"\n{'work':12} {'method':8} {'time s':>8} {'peak MB':>8} {'lines d/m':>10}")
    for mode in ("month", "days+month"):
        results = {}
        for method in ("pandas", "duckdb"):
            runs = [measure(method, mode, file, args.days) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            best["peak_mb"] = min(r["peak_mb"] for r in runs)
            results[method] = best
            print(
                f"{mode:12} {method:8} {best['seconds']:8.2f} {best['peak_mb']:8.0f} "
                f"{best['daily_lines']:>5}/{best['monthly_lines']:<4}"
            )
        pandas, duck = results["pandas"], results["duckdb"]
        same = pandas["digest"] == duck["digest"] and pandas["net_total"] == duck["net_total"]
        print(
            f"{mode:12} ratios   pandas/duckdb time {pandas['seconds'] / duck['seconds']:.2f}x, "
            f"peak {pandas['peak_mb'] / duck['peak_mb']:.2f}x; identical groups and totals: {same}; "
            f"net total {pandas['net_total']:,.2f} over {pandas['rows']:,} rows"
        )
        targets = (
            f"time <= DuckDB: {'met' if pandas['seconds'] <= duck['seconds'] else 'MISSED'}, "
            f"peak <= {PEAK_TARGET_MB} MB: {'met' if pandas['peak_mb'] <= PEAK_TARGET_MB else 'MISSED'}"
        )
        print(f"{mode:12} targets  {targets}")
        if not same:
            status = 1
    if args.part == "all":
        status = command_benchmark(args.fleet_rows, args.repeat) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
