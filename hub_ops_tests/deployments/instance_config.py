"""Validate a dagster.yaml the way Dagster will, and further: the instance schema, then each
configurable class's own config type (run launcher, run coordinator, compute logs, ...),
which Dagster itself only checks when it instantiates the class (in the cluster, too late)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import class_from_code_pointer

# sections of dagster.yaml that name a class ({module, class, config})
CLASS_SECTIONS = (
    "run_launcher",
    "run_coordinator",
    "compute_logs",
    "scheduler",
    "local_artifact_storage",
    "run_storage",
    "event_log_storage",
    "schedule_storage",
    "secrets",
)


def instance_config_problems(path: Path) -> list[str]:
    """Every problem Dagster finds in `path`, as "section: error" lines; [] when valid."""
    with tempfile.TemporaryDirectory() as tmp:  # dagster_instance_config reads <dir>/dagster.yaml
        shutil.copy(path, Path(tmp) / "dagster.yaml")
        try:
            config, _ = dagster_instance_config(tmp)
        except DagsterInvalidConfigError as e:
            return [f"instance: {err.message}" for err in e.errors] or [f"instance: {e}"]
    problems = []
    for section in CLASS_SECTIONS:
        data = config.get(section)
        if not isinstance(data, dict) or "module" not in data:
            continue
        try:
            klass = class_from_code_pointer(data["module"], data["class"])
        except (ImportError, AttributeError) as e:
            problems.append(f"{section}: {data['module']}.{data['class']} not importable: {e}")
            continue
        result = validate_config(klass.config_type(), data.get("config") or {})
        problems += [f"{section} ({data['class']}): {err.message}" for err in result.errors or []]
    return problems
