"""`python -m benchmarks` lists and runs only modules that are benchmarks (they define `main`)."""

import re
import sys
from pathlib import Path

import benchmarks
from benchmarks.__main__ import main


def test_an_unknown_name_lists_exactly_the_modules_that_define_main(capsys):
    folder = Path(benchmarks.__file__).parent
    expected = sorted(
        p.stem
        for p in folder.glob("*.py")
        if not p.stem.startswith("_") and re.search(r"^def main\(", p.read_text(), re.MULTILINE)
    )
    assert "fresh_fs" not in expected and "ui_shape_hub" not in expected and "backup" in expected

    assert main(["no-such-benchmark"]) == 2

    listed = capsys.readouterr().err.split("available: ", 1)[1].strip()
    assert listed == repr(expected)
    assert "benchmarks.ui_shape_hub" not in sys.modules  # listing imports no helper (it swaps partitions)
