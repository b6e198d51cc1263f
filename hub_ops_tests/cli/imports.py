"""Which heavy packages a `hub-ops` command imports: run commands in a fresh interpreter and
read its sys.modules afterwards (an import count, not a timing: it holds on a loaded machine)."""

from __future__ import annotations

import json
import subprocess
import sys

from hub_ops_tests.conftest import REPO

HEAVY = ("dagster", "pandas", "gcsfs", "kubernetes", "matplotlib", "boto3", "s3fs", "adlfs", "azure")

_SCRIPT = """
import json, sys
from hub_ops.cli import main
for args in {argv!r}:
    try:
        main(args)
    except SystemExit as e:
        assert e.code in (0, None), (args, e.code)
# a name is a top-level package (any of its modules counts) or one exact module (pyarrow.compute)
heavy = sorted(({{m.split(".")[0] for m in sys.modules}} | set(sys.modules)) & set({heavy!r}))
heavy += sorted(m for m in sys.modules if m.startswith("google.cloud"))
print("HEAVY:", json.dumps(heavy))
"""


def heavy_imports(
    argv: list[list[str]], heavy: tuple[str, ...] = HEAVY, env: dict | None = None
) -> tuple[list[str], str]:
    """Run `hub-ops ARGS` for each ARGS in one fresh interpreter: (the `heavy` top-level
    packages and google.cloud modules it imported, everything it printed)."""
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT.format(argv=argv, heavy=heavy)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("HEAVY: "), proc.stdout
    return json.loads(last[len("HEAVY: ") :]), proc.stdout
