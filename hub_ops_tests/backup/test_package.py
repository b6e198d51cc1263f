"""The package's exports load on first use and keep their names."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize(
    "first",
    [
        "import hub_ops.backup.prune",
        "from hub_ops.backup.prune import collect_garbage",
        "from hub_ops.backup import prune",
    ],
)
def test_prune_is_the_function_whichever_import_comes_first(first):
    out = _run(
        f"import sys\n{first}\nfrom hub_ops.backup import prune\nimport hub_ops.backup as b\n"
        "print(callable(prune), b.prune is prune, type(sys.modules['hub_ops.backup.prune']).__name__)"
    )
    assert out == "True True module"


def test_every_export_resolves_and_an_unknown_name_is_an_attribute_error():
    out = _run(
        "import hub_ops.backup as b\nprint(all(getattr(b, n) is not None for n in b.__all__), len(b.__all__))\n"
        "try:\n    b.nothing_here\nexcept AttributeError as e:\n    print(e)"
    )
    assert out.splitlines() == ["True 22", "module 'hub_ops.backup' has no attribute 'nothing_here'"]
