"""Planning speed: in-process on the 2i2c fleet and on a generated 2,000-hub fleet, and the
`hub-ops plan` / `hub-ops validate` commands as a person or CI runs them.

Each in-process figure is load + plan (what a sensor tick or the CLI does), warm (modules
imported, files in the OS cache), with the ratio against the anchor: parsing every
cluster.yaml of the same fleet with PyYAML's safe_load in this process.

    python -m benchmarks plan [-- --runs 30 --cli-runs 7 --hubs 2000 --clusters 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from hub_ops.fleet import load_fleet
from hub_ops.fleet.planner import plan_changes

REPO = Path(__file__).resolve().parent.parent
TWO_I_TWO_C = REPO / "hub_ops_tests" / "data" / "2i2c-fleet"
HUB_OPS = str(Path(sys.executable).parent / "hub-ops")

# targets of issue 2 (seconds)
TARGETS = {"cli_plan_fixture": 0.35, "plan_fixture": 0.020, "plan_generated": 0.200}


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(best, median) wall seconds of `runs` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples), statistics.median(samples)


def parse_every_cluster_yaml(clusters_dir: Path, loader: type = yaml.SafeLoader) -> Callable[[], object]:
    files = sorted(clusters_dir.glob("*/cluster.yaml"))

    def anchor() -> object:
        return [yaml.load(f.read_bytes(), Loader=loader) for f in files]

    return anchor


def print_anchors(clusters_dir: Path, runs: int) -> float:
    """Print both PyYAML anchors; return the plain safe_load one (the ratio's denominator)."""
    anchor, _ = timed(parse_every_cluster_yaml(clusters_dir), runs)
    print(f"  anchor: PyYAML safe_load of every cluster.yaml   {ms(anchor)}")
    c_anchor, _ = timed(parse_every_cluster_yaml(clusters_dir, yaml.CSafeLoader), runs)
    print(f"  libyaml's CSafeLoader instead (hub_ops uses it) {ms(c_anchor)}, {c_anchor / anchor:.2f}x the anchor")
    return anchor


def load_and_plan(root: Path, paths: list[str]) -> Callable[[], object]:
    def run() -> object:
        return plan_changes(load_fleet(root, check_files=False), paths)

    return run


# the shape of a sops-encrypted values file (not real ciphertext: nothing here decrypts it)
SOPS_SHAPED = (
    "jupyterhub:\n  hub:\n    config: ENC[AES256_GCM,data:AAAA,iv:AAAA,tag:AAAA,type:str]\nsops:\n  version: 3.11.0\n"
)


def generate_fleet(root: Path, clusters: int, hubs_per_cluster: int) -> None:
    """A hub_ops fleet shaped like 2i2c's: gcp clusters, support, basehub/daskhub hubs."""
    (root / "charts/basehub").mkdir(parents=True)
    (root / "charts/daskhub").mkdir()
    (root / "charts/support").mkdir()
    (root / "fleet.yaml").write_text("clusters_dir: clusters\ncharts_dir: charts\n")
    (root / "charts/basehub/Chart.yaml").write_text("apiVersion: v2\nname: basehub\nversion: 0.1.0\n")
    (root / "charts/support/Chart.yaml").write_text("apiVersion: v2\nname: support\nversion: 0.1.0\n")
    (root / "charts/daskhub/Chart.yaml").write_text(
        "apiVersion: v2\nname: daskhub\nversion: 0.1.0\ndependencies:\n"
        "- name: basehub\n  version: 0.1.0\n  repository: file://../basehub\n"
    )
    for c in range(clusters):
        name = f"cluster-{c:03d}"
        folder = root / "clusters" / name
        folder.mkdir(parents=True)
        lines = [
            f"name: {name}",
            "provider: gcp",
            f"provider_url: https://console.cloud.google.com/kubernetes/clusters/details/us-central1/{name}/nodes?project={name}",
            "gcp:",
            "  key: enc-deployer-credentials.secret.json",
            f"  project: {name}-project",
            f"  cluster: {name}-cluster",
            "  zone: us-central1",
            "  billing:",
            "    paid_by_us: true",
            "    bigquery:",
            f"      project: {name}-project",
            "      dataset: cloud_costs",
            "      billing_id: 01A164-923D17-3199D9",
            "support:",
            "  helm_chart_values_files:",
            "  - support.values.yaml",
            "  - enc-support.secret.values.yaml",
            "hubs:",
        ]
        for h in range(hubs_per_cluster):
            hub = "staging" if h == 0 else f"hub-{h:02d}"
            chart = "daskhub" if c % 4 == 0 and h < 2 else "basehub"
            lines += [
                f"- name: {hub}",
                f"  display_name: {name} {hub}",
                f"  domain: {hub}.{name}.example.org",
                f"  helm_chart: {chart}",
                "  helm_chart_values_files:",
                "  - common.values.yaml",
                f"  - {hub}.values.yaml",
                f"  - enc-{hub}.secret.values.yaml",
            ]
            (folder / f"{hub}.values.yaml").write_text(
                f"jupyterhub:\n  hub:\n    config:\n      JupyterHub:\n        admin_users: [{hub}]\n"
            )
            (folder / f"enc-{hub}.secret.values.yaml").write_text(SOPS_SHAPED)
        (folder / "cluster.yaml").write_text("\n".join(lines) + "\n")
        (folder / "enc-support.secret.values.yaml").write_text(SOPS_SHAPED)
        (folder / "enc-deployer-credentials.secret.json").write_text('{"sops": {"version": "3.11.0"}}\n')
        (folder / "common.values.yaml").write_text("jupyterhub:\n  singleuser:\n    memory: {limit: 4G}\n")
        (folder / "support.values.yaml").write_text("prometheus: {}\n")


def cli(args: list[str], runs: int) -> tuple[float, float]:
    def run() -> None:
        proc = subprocess.run([HUB_OPS, *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"hub-ops {' '.join(args)} failed: {proc.stderr}")

    return timed(run, runs)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks plan")
    parser.add_argument("--runs", type=int, default=30, help="in-process repetitions (best and median shown)")
    parser.add_argument("--cli-runs", type=int, default=7, help="repetitions of each hub-ops command")
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--hubs", type=int, default=2000, help="hubs in the generated fleet (spread over --clusters)")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"best / median of {args.runs} runs (in-process), {args.cli_runs} runs (commands)"
    )

    print("\n2i2c fleet (30 clusters, 171 hubs), load + plan, warm:")
    anchor_best = print_anchors(TWO_I_TWO_C / "config/clusters", args.runs)
    for label, paths in (
        ("one values file (leap/prod.values.yaml)", ["config/clusters/leap/prod.values.yaml"]),
        ("basehub chart change (171 hubs)", ["helm-charts/basehub/templates/x.yaml"]),
    ):
        best, median = timed(load_and_plan(TWO_I_TWO_C, paths), args.runs)
        results["plan_fixture"] = max(results.get("plan_fixture", 0), best)
        print(f"  {label:46} {ms(best)} (median {ms(median).strip()}), {best / anchor_best:.2f}x the anchor")
    fleet = load_fleet(TWO_I_TWO_C, check_files=False)
    best, _ = timed(lambda: plan_changes(fleet, ["helm-charts/basehub/templates/x.yaml"]), args.runs)
    print(f"  plan only, fleet already loaded (basehub)      {ms(best)}")

    with tempfile.TemporaryDirectory(prefix="hub-ops-bench-") as tmp:
        root = Path(tmp)
        per_cluster = max(1, args.hubs // args.clusters)
        start = time.perf_counter()
        generate_fleet(root, args.clusters, per_cluster)
        print(
            f"\ngenerated fleet ({args.clusters} clusters, {args.clusters * per_cluster} hubs; "
            f"written in {time.perf_counter() - start:.1f} s), load + plan, warm:"
        )
        anchor_best = print_anchors(root / "clusters", max(5, args.runs // 3))
        for label, paths in (
            ("one values file", ["clusters/cluster-101/hub-05.values.yaml"]),
            ("basehub chart change (every hub)", ["charts/basehub/values.yaml"]),
        ):
            best, median = timed(load_and_plan(root, paths), max(5, args.runs // 3))
            results["plan_generated"] = max(results.get("plan_generated", 0), best)
            print(f"  {label:46} {ms(best)} (median {ms(median).strip()}), {best / anchor_best:.2f}x the anchor")

    print("\ncommands on the 2i2c fleet (new process each, wall time):")
    python_best, _ = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.cli_runs)
    print(f"  anchor: python -c pass                         {ms(python_best)}")
    best, median = cli(
        ["--fleet", str(TWO_I_TWO_C), "plan", "--files", "config/clusters/leap/prod.values.yaml"], args.cli_runs
    )
    results["cli_plan_fixture"] = best
    print(f"  hub-ops plan --files leap/prod.values.yaml     {ms(best)} (median {ms(median).strip()})")
    best, median = cli(
        ["--fleet", str(TWO_I_TWO_C), "plan", "--json", "--files", "helm-charts/basehub/Chart.yaml"], args.cli_runs
    )
    results["cli_plan_fixture"] = max(results["cli_plan_fixture"], best)
    print(f"  hub-ops plan --json --files basehub/Chart.yaml {ms(best)} (median {ms(median).strip()})")
    best, median = cli(["--fleet", str(TWO_I_TWO_C), "validate"], args.cli_runs)
    print(f"  hub-ops validate (reads all 548 values files)  {ms(best)} (median {ms(median).strip()})")

    print("\ntargets (best run):")
    missed = 0
    for key, target in TARGETS.items():
        ok = results[key] <= target
        missed += not ok
        print(f"  {key:18} {ms(results[key])}  target <= {target * 1000:.0f} ms  {'ok' if ok else 'MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
