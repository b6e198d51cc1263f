"""`python -m hub_ops_dev.stack prepare`: provision this machine for the local stack."""

from __future__ import annotations

import sys
import time

from hub_ops_dev.stack.process import StackError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args != ["prepare"]:
        print("usage: python -m hub_ops_dev.stack prepare", file=sys.stderr)
        return 2
    from hub_ops_dev.stack.prepare import prepare

    started = time.monotonic()
    try:
        bins = prepare(log=lambda msg: print(msg, flush=True))
    except StackError as exc:
        print(f"prepare failed: {exc}", file=sys.stderr)
        return 1
    print(f"local stack ready: Kubernetes {bins.version} in {bins.bin_dir} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
