"""The whole Definitions: loads in-process from the defs folder, `dagster definitions
validate` passes on the example fleet and on the 2i2c fleet (as the deployed code location
would load it), and the names of everything in it are reviewed (snapshot below)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from hub_ops.definitions import defs
from hub_ops.settings import SettingsError
from hub_ops_tests.conftest import EXAMPLE_FLEET, REPO, TWO_I_TWO_C

DAGSTER = str(Path(sys.executable).parent / "dagster")
SNAPSHOT = Path(__file__).parent / "definitions_snapshot.json"


def names(definitions: dg.Definitions) -> dict[str, list[str]]:
    repo = definitions.get_repository_def()
    return {
        "assets": sorted(n.key.to_user_string() for n in repo.asset_graph.asset_nodes),
        "asset_checks": sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in repo.asset_graph.asset_check_keys),
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": sorted(f"{s.name} ({s.cron_schedule}) -> {s.job_name}" for s in repo.schedule_defs),
        "sensors": sorted(s.name for s in repo.sensor_defs),
        "resources": sorted(repo.get_top_level_resources()),
    }


def test_every_name_is_reviewed():
    """A change to the graph (an asset, check, job, schedule, sensor or resource added,
    removed or renamed) shows in review as a change to definitions_snapshot.json. Update it
    with HUB_OPS_UPDATE_SNAPSHOT=1."""
    current = names(defs())
    if os.environ.get("HUB_OPS_UPDATE_SNAPSHOT"):
        SNAPSHOT.write_text(json.dumps(current, indent=2) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


@pytest.mark.parametrize("env", ["local", "production"])
def test_definitions_load(env: str, monkeypatch):
    monkeypatch.setenv("HUB_OPS_ENV", env)
    definitions = defs()
    assert "hub_partitions_sensor" in {s.name for s in definitions.get_repository_def().sensor_defs}
    resources = definitions.resources
    assert {"fleet", "storage", "kube", "sops"} <= set(resources)
    assert resources["backup_runner"].settings_value.pod_env == (
        {"HUB_OPS_ENV": "production"} if env == "production" else {}
    )


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("HUB_OPS_ENV", "staging")
    with pytest.raises(Exception) as raised:  # Dagster wraps it, naming the module that asked
        defs()
    chain, error = [], raised.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    [settings_error] = [e for e in chain if isinstance(e, SettingsError)]
    assert str(settings_error) == "HUB_OPS_ENV='staging': expected one of local, production"


def test_the_python_name_is_the_dagster_name():
    """`from hub_ops.defs.<domain>.<module> import X` finds the object Dagster calls X."""
    import importlib
    import pkgutil

    import hub_ops.defs

    found = {}
    for info in pkgutil.walk_packages(hub_ops.defs.__path__, "hub_ops.defs."):
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            name = getattr(value, "name", None)
            if isinstance(value, (dg.JobDefinition, dg.ScheduleDefinition, dg.SensorDefinition)) or (
                type(value).__name__ == "UnresolvedAssetJobDefinition"
            ):
                found[f"{info.name}.{attr}"] = name
    mismatched = {where: name for where, name in found.items() if where.rsplit(".", 1)[1] != name}
    assert found and not mismatched


@pytest.mark.parametrize("fleet", [EXAMPLE_FLEET, TWO_I_TWO_C], ids=["example", "2i2c"])
def test_dagster_definitions_validate(fleet: Path, tmp_path: Path):
    env = {
        **os.environ,
        "HUB_OPS_FLEET": str(fleet),
        "HUB_OPS_ENV": "local",
        "DAGSTER_HOME": str(tmp_path),
        "HUB_OPS_DATA": str(tmp_path / "data"),
    }
    proc = subprocess.run(
        [DAGSTER, "definitions", "validate", "-m", "hub_ops.definitions"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All code locations passed validation." in proc.stdout + proc.stderr
    assert not list(REPO.glob(".tmp_dagster_home_*"))


def test_schedules_take_their_times_from_fleet_yaml(example_fleet: Path, tmp_path: Path):
    """backups.schedule and costs.schedule of the loaded fleet are the schedules' crons."""
    fleet_yaml = example_fleet / "fleet.yaml"
    text = fleet_yaml.read_text().replace('schedule: "0 2 * * *"', 'schedule: "30 3 * * *"')
    assert "costs:" in text
    text = text.replace("costs:\n", 'costs:\n  schedule: "45 5 * * *"\n', 1)
    fleet_yaml.write_text(text)
    script = (
        "from hub_ops.definitions import defs\n"
        "repo = defs().get_repository_def()\n"
        "for name in ('nightly_backups', 'cost_report_schedule', 'monthly_cost_report_schedule'):\n"
        "    print(name, repo.get_schedule_def(name).cron_schedule)\n"
    )
    env = {**os.environ, "HUB_OPS_FLEET": str(example_fleet), "HUB_OPS_DATA": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    crons = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert crons == {
        "nightly_backups": "30 3 * * *",
        "cost_report_schedule": "45 5 * * *",
        "monthly_cost_report_schedule": "45 5 1 * *",
    }


@pytest.mark.parametrize("env", ["local", "production"])
def test_the_fleet_resource_loads_the_fleet_from_hub_ops_fleet(monkeypatch, env: str):
    monkeypatch.setenv("HUB_OPS_FLEET", str(TWO_I_TWO_C))
    monkeypatch.setenv("HUB_OPS_ENV", env)
    fleet = defs().resources["fleet"].settings_value  # bound with no run config (FromSettings)
    assert isinstance(fleet, dg.ConfigurableResource)
    assert fleet.root == str(TWO_I_TWO_C)
    assert sum(1 for _ in fleet.load().hubs()) == 171


# What a code server (and every run's process) would otherwise import on each load, though
# only asset bodies, checks and resources' methods use them (issue 18: load <= 3 s)
HEAVY_AT_LOAD = (
    "pandas",
    "numpy",
    "pyarrow",
    "google.cloud.container",
    "google.cloud.container_v1",
    "grpc",
    "requests",
)


@pytest.mark.parametrize("env", ["local", "production"])
def test_loading_the_definitions_imports_no_heavy_library(env: str, tmp_path: Path):
    """A new process that loads and resolves every definition has none of HEAVY_AT_LOAD in
    sys.modules: they are imported by the functions that use them."""
    script = (
        "import sys\n"
        "from hub_ops.definitions import defs\n"
        "repo = defs().get_repository_def()\n"
        "repo.load_all_definitions()\n"
        "print(len(repo.get_all_jobs()))\n"
        f"print(' '.join(m for m in {HEAVY_AT_LOAD!r} if m in sys.modules))\n"
    )
    environ = {**os.environ, "HUB_OPS_ENV": env, "HUB_OPS_FLEET": str(EXAMPLE_FLEET), "HUB_OPS_DATA": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    jobs, imported = out.stdout.splitlines()[-2:]
    assert int(jobs) >= len(json.loads(SNAPSHOT.read_text())["jobs"])
    assert imported == ""
