"""Benchmarks: `python -m benchmarks [NAME ...] [-- ARGS]` (or `make bench`).

Each benchmarks/<name>.py has `main(argv) -> int` and prints its figures with ratios against
anchors run in the same process. Record the latest figures in BENCHMARKS.md.
"""
