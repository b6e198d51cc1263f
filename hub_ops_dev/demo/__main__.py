"""python -m hub_ops_dev.demo [--data DIR] [--only STEP ...]"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import time
from pathlib import Path

from hub_ops_dev.demo import STEPS, DemoContext


def main(argv: list[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(prog="hub_ops_dev.demo", description=__doc__)
    parser.add_argument("--data", type=Path, default=repo / ".data" / "demo")
    parser.add_argument("--only", nargs="*", choices=STEPS, default=None)
    args = parser.parse_args(argv)

    if args.data.exists():
        shutil.rmtree(args.data)  # a demo starts from nothing, every time
    args.data.mkdir(parents=True)
    os.environ["HUB_OPS_ENV"] = "local"
    os.environ["HUB_OPS_FLEET"] = str(repo / "deployments")
    os.environ["HUB_OPS_DATA"] = str(args.data)
    os.environ["DAGSTER_HOME"] = str(args.data / "dagster")
    (args.data / "dagster").mkdir()
    shutil.copy(repo / "dagster.yaml", args.data / "dagster" / "dagster.yaml")

    ctx = DemoContext(repo=repo, fleet_root=repo / "deployments", data=args.data)
    failed = []
    for name in args.only or STEPS:
        print(f"\n=== {name} " + "=" * (70 - len(name)))
        start = time.monotonic()
        try:
            lines = importlib.import_module(f"hub_ops_dev.demo.{name}").run(ctx)
        except Exception as e:  # show every step, then fail at the end
            import traceback

            traceback.print_exc()
            failed.append(name)
            print(f"--- {name}: FAILED: {e}")
            continue
        for line in lines:
            print(line)
        print(f"--- {name}: ok in {time.monotonic() - start:.1f} s")
    print("\n" + ("demo FAILED in: " + ", ".join(failed) if failed else f"demo ok: {', '.join(args.only or STEPS)}"))
    print(f"everything the demo wrote is under {args.data}")
    print(f"its runs and assets in the web UI: DAGSTER_HOME={args.data / 'dagster'} HUB_OPS_DATA={args.data} make dev")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
