"""Run benchmarks by name (all when none given); arguments after `--` go to each.

A benchmark is a module of this package with a `main(argv)`; the others (fresh_fs) are its helpers.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    names, rest = argv[:split], argv[split + 1 :]
    modules = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_"))
    available = [name for name in modules if hasattr(importlib.import_module(f"benchmarks.{name}"), "main")]
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {available}", file=sys.stderr)
        return 2
    status = 0
    for name in names or available:
        print(f"\n##### benchmarks/{name}.py")
        status |= importlib.import_module(f"benchmarks.{name}").main(rest)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
