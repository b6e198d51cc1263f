"""The user-home backup engine: content-addressed, deduplicated, incremental snapshots of a
folder of home directories to any fsspec destination (file://, gs://).

Plain Python, no Dagster: the CLI (hub_ops.cli.backup), Dagster (hub_ops.defs.backups)
and tests all call these functions. Where things live in a destination: repository.py.
How a snapshot is taken and why kill -9 is safe: snapshot.py. Prune and concurrent
backups: locks.py and prune.py.

The names below are loaded on first use (PEP 562), so importing one light module of the
package (restore worker processes do) does not load pandas and pyarrow.
"""

from __future__ import annotations

import importlib
import sys
import types

_EXPORTS = {
    "errors": [
        "BackupError",
        "BackupIntegrityError",
        "LockError",
        "RestoreRefusedError",
        "SnapshotNotFoundError",
        "SourceError",
    ],
    "locks": ["LockPolicy"],
    "manifest": ["SnapshotSummary"],
    "prune": ["PruneReport", "prune"],
    "repository": ["Repository", "normalize_hub"],
    "restore": ["RestoreProgress", "RestoreReport", "restore_snapshot"],
    "retention": ["RetentionPolicy", "select_kept"],
    "snapshot": ["BackupOptions", "Progress", "create_snapshot"],
    "verify": ["VerifyReport", "verify_snapshot"],
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Importing a submodule binds its name in the package; for `prune` that would hide the
    function of the same name, depending on which was imported first. Exports keep their names."""

    def __setattr__(self, name: str, value) -> None:
        if name in _MODULE_OF and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
