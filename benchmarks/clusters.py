"""Observing a fleet's clusters: the clusters asset's GKE path on a generated fleet of gcp
clusters, against the loopback server of recorded GKE response shapes (not live GKE).

With no added latency the figure is hub_ops's and the client library's own cost per
cluster (three REST calls, proto parsing, state building). With --latency-ms the server
waits before each answer, like a round trip to container.googleapis.com, which is where
observing in parallel (the asset's MAX_PARALLEL) pays off.

    python -m benchmarks clusters [-- --clusters 30 --latency-ms 150 --runs 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from google.oauth2.credentials import Credentials

from benchmarks.plan import generate_fleet
from hub_ops.clients.gke import GkeClient
from hub_ops.defs.clusters.assets import MAX_PARALLEL, observe_cluster
from hub_ops.fleet import load_fleet
from hub_ops_tests.gke_recorded import RecordedGkeApi, recorded


def serve_fleet(fleet, api: RecordedGkeApi) -> None:
    bodies = {kind: recorded("pangeo-hubs", kind) for kind in ("cluster", "nodePools", "upgradeInfo")}
    for cluster in fleet.clusters.values():
        api.add(cluster.gcp.project, cluster.gcp.zone, cluster.gcp.cluster, bodies)


def observe_all(fleet, gke: GkeClient, parallel: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        states = list(pool.map(lambda c: observe_cluster(c, fleet, gke, list_nodes=False), fleet.clusters.values()))
    elapsed = time.perf_counter() - start
    unreachable = [s.cluster for s in states if not s.reachable]
    if unreachable:
        raise RuntimeError(f"benchmark broken: {unreachable} not reachable: {states[0].reason}")
    return elapsed


def _serve(fleet_root: str, latency_s: float, endpoints, stop) -> None:
    """The stand-in GKE API in a process of its own: sharing the benchmark's process, its
    threads and the client's would take turns on one GIL and measure that instead."""
    api = RecordedGkeApi().start()
    api.latency_s = latency_s
    serve_fleet(load_fleet(fleet_root, check_files=False), api)
    endpoints.put(api.endpoint)
    stop.wait()
    api.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks clusters")
    parser.add_argument("--clusters", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"{args.clusters} gcp clusters, best / median of {args.runs} runs"
    )
    with tempfile.TemporaryDirectory(prefix="hub-ops-bench-") as tmp:
        generate_fleet(Path(tmp), args.clusters, 1)
        fleet = load_fleet(tmp, check_files=False)
        ctx = multiprocessing.get_context("spawn")
        for latency in (0.0, args.latency_ms / 1000):
            endpoints, stop = ctx.Queue(), ctx.Event()
            server = ctx.Process(target=_serve, args=(tmp, latency, endpoints, stop), daemon=True)
            server.start()
            try:
                gke = GkeClient(Credentials(token="benchmark"), api_endpoint=endpoints.get(timeout=60), timeout=30)
                print(f"\nserver latency {latency * 1000:.0f} ms per call (server in its own process):")
                for parallel in (1, MAX_PARALLEL):
                    samples = [observe_all(fleet, gke, parallel) for _ in range(args.runs)]
                    best = min(samples)
                    print(
                        f"  {parallel} at a time: {best:6.2f} s (median {statistics.median(samples):.2f} s), "
                        f"{best / args.clusters * 1000:6.1f} ms per cluster"
                    )
            finally:
                stop.set()
                server.join(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
