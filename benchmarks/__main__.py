"""Run benchmarks by name (all when none given); arguments after `--` go to each.

A benchmark is a module of this package that defines `main(argv)`; the others (fresh_fs, ui_shape_hub)
are its helpers, found by reading the source: importing ui_shape_hub would swap hub_ops's partitions.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path

_DEFINES_MAIN = re.compile(r"^def main\(", re.MULTILINE)


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    names, rest = argv[:split], argv[split + 1 :]
    folder = Path(__file__).parent
    modules = sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if not m.name.startswith("_"))
    available = [name for name in modules if _DEFINES_MAIN.search((folder / f"{name}.py").read_text())]
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
