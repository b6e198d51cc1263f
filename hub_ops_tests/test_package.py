"""What `pip install .` installs: hub_ops and what an operator runs, nothing of the test
tooling (local stack, demo, sample billing data) or the tests."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from hub_ops_tests.conftest import REPO


def test_the_wheel_holds_only_what_an_operator_runs(tmp_path: Path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    [wheel] = tmp_path.glob("hub_ops-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/", 1)[0] for name in names if not name.startswith("hub_ops-")}
    assert packages == {"hub_ops"}
    assert not [n for n in names if "devstack" in n or "sample_billing" in n or "/demo/" in n]
    # what the installed package needs at run time
    assert {"hub_ops/dg.toml", "hub_ops/definitions.py", "hub_ops/cli/__init__.py"} <= set(names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "hub-ops = hub_ops.cli:main" in entry_points and "hub-ops-stack" not in entry_points
