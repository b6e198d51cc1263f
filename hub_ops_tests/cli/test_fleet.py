"""`hub-ops validate | plan | schema`, in-process (click's runner) and as the real command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub_ops.cli import main
from hub_ops.fleet.schema import json_schemas
from hub_ops_tests.cli.imports import heavy_imports
from hub_ops_tests.conftest import EXAMPLE_FLEET, TWO_I_TWO_C
from hub_ops_tests.fleet_helpers import ScratchRepo, replace, write

HUB_OPS = str(Path(sys.executable).parent / "hub-ops")


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_validate_the_example_fleet():
    result = run("--fleet", str(EXAMPLE_FLEET), "validate")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 3 clusters, 9 hubs, 24 hub values files, 3 charts (hub_ops layout)\n"


def test_validate_the_2i2c_fleet_as_a_command():
    proc = subprocess.run([HUB_OPS, "--fleet", str(TWO_I_TWO_C), "validate"], capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "ok: 30 clusters, 171 hubs, 548 hub values files, 3 charts (2i2c layout)\n"


def test_validate_takes_the_fleet_from_the_environment():
    result = run("validate", env={"HUB_OPS_FLEET": str(TWO_I_TWO_C)})
    assert result.exit_code == 0 and "30 clusters, 171 hubs" in result.stdout


def test_validate_lists_every_problem_and_exits_1(example_fleet: Path):
    replace(example_fleet, "clusters/pangeo-hubs/cluster.yaml", "node_pools:", "nodepools:")
    (example_fleet / "clusters/community-hubs/uni.values.yaml").unlink()
    proc = subprocess.run([HUB_OPS, "--fleet", str(example_fleet), "validate"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (
        "clusters/community-hubs/cluster.yaml:49 hubs[3].helm_chart_values_files[1]: file not found: uni.values.yaml\n"
        "clusters/pangeo-hubs/cluster.yaml:15 nodepools: unknown key\n"
        f"2 problem(s) in {example_fleet}\n"
    )


def test_validate_a_folder_that_is_no_fleet(tmp_path: Path):
    result = run("--fleet", str(tmp_path), "validate")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"{tmp_path}: not a fleet: no fleet.yaml and no config/clusters/ folder"


def test_plan_files_table():
    result = run(
        "--fleet",
        str(EXAMPLE_FLEET),
        "plan",
        "--files",
        "clusters/pangeo-hubs/prod.values.yaml",
        "clusters/local-demo/support.values.yaml",
        "README.md",
    )
    assert result.exit_code == 0
    assert result.stdout == (
        "STEP     RELEASE              WHY\n"
        "support  local-demo           clusters/local-demo/support.values.yaml changed\n"
        "staging  pangeo-hubs/staging  staging canary for pangeo-hubs/prod\n"
        "prod     pangeo-hubs/prod     clusters/pangeo-hubs/prod.values.yaml changed\n"
        "(deploys nothing: README.md)\n"
    )


def test_plan_nothing_to_deploy():
    result = run("--fleet", str(EXAMPLE_FLEET), "plan", "--files", "README.md")
    assert result.stdout == "nothing to deploy\n(deploys nothing: README.md)\n"


def test_plan_json_shape():
    result = run(
        "--fleet",
        str(TWO_I_TWO_C),
        "plan",
        "--json",
        "--files",
        "helm-charts/daskhub/Chart.yaml",
        "config/clusters/leap/support.values.yaml",
    )
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert list(doc) == ["support", "staging", "prod", "removed", "skipped", "ignored", "reasons"]
    assert doc["support"] == ["leap"]
    assert doc["staging"][:3] == ["2i2c-aws-us/staging", "awi-ciroh/staging", "earthscope/staging"]
    assert doc["prod"][:2] == ["2i2c-aws-us/showcase", "awi-ciroh/prod"]
    assert doc["removed"] == [] and doc["ignored"] == []
    assert set(doc["reasons"]) == set(doc["support"] + doc["staging"] + doc["prod"])
    assert all(isinstance(r, list) and r for r in doc["reasons"].values())


def test_plan_paths_from_the_repository_root(tmp_path: Path):
    """Run where deployments/ is a subfolder, `git diff --name-only` paths work as they are."""
    shutil.copytree(EXAMPLE_FLEET, tmp_path / "deployments")
    proc = subprocess.run(
        [
            HUB_OPS,
            "plan",
            "--json",
            "--files",
            "deployments/clusters/pangeo-hubs/prod.values.yaml",
            str(tmp_path / "deployments/clusters/local-demo/support.values.yaml"),
            "README.md",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HUB_OPS_FLEET": ""},
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["support"], doc["prod"], doc["ignored"]) == (["local-demo"], ["pangeo-hubs/prod"], ["README.md"])


def test_plan_usage_errors():
    for args in ([], ["--base", "HEAD~1", "--files", "a"], ["--base", "HEAD~1", "a"]):
        result = CliRunner().invoke(main, ["--fleet", str(EXAMPLE_FLEET), "plan", *args])
        assert result.exit_code == 2
        assert "give either --files PATH... or --base REV [--head REV]" in result.output


def test_plan_on_an_invalid_fleet_exits_1(example_fleet: Path):
    replace(example_fleet, "clusters/local-demo/cluster.yaml", "provider: local", "provider: laptop")
    result = run("--fleet", str(example_fleet), "plan", "--files", "README.md")
    assert result.exit_code == 1
    assert result.stderr == (
        "clusters/local-demo/cluster.yaml:4 provider: Input should be 'gcp', 'aws', 'azure', "
        "'kubeconfig' or 'local' (got 'laptop')\n"
    )


@pytest.fixture
def fleet_repo(tmp_path: Path) -> ScratchRepo:
    repo = ScratchRepo.init(tmp_path / "repo")
    shutil.copytree(EXAMPLE_FLEET, repo.path / "deployments")
    repo.commit("fleet")
    return repo


def test_plan_git_range_of_a_subfolder_fleet(fleet_repo: ScratchRepo):
    fleet = fleet_repo.path / "deployments"
    base = fleet_repo.git("rev-parse", "HEAD")
    c = "clusters/community-hubs/cluster.yaml"
    text = (fleet / c).read_text()
    (fleet / c).write_text(text[: text.index("- name: climatematch")] + text[text.index("- name: uni") :])
    replace(fleet, "clusters/pangeo-hubs/cluster.yaml", "domain: us-central1-b.gcp.pangeo.io", "domain: pangeo.io")
    fleet_repo.commit("drop climatematch, new prod domain")
    write(fleet, "clusters/local-demo/workshop.values.yaml", "uncommitted: true\n")  # not in the range

    proc = subprocess.run(
        [HUB_OPS, "--fleet", "deployments", "plan", "--base", base, "--json"],
        cwd=fleet_repo.path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "support": [],
        "staging": ["pangeo-hubs/staging"],
        "prod": ["pangeo-hubs/prod"],
        "removed": ["community-hubs/climatematch"],
        "skipped": [],
        "ignored": [],
        "reasons": {
            "pangeo-hubs/staging": ["staging canary for pangeo-hubs/prod"],
            "pangeo-hubs/prod": ["clusters/pangeo-hubs/cluster.yaml: hub entry changed (domain)"],
            "community-hubs/climatematch": ["removed from clusters/community-hubs/cluster.yaml: needs decommission"],
        },
    }
    table = run("--fleet", str(fleet), "plan", "--base", base, "--head", "HEAD")
    assert table.stdout.splitlines()[-1] == (
        "removed  community-hubs/climatematch  removed from clusters/community-hubs/cluster.yaml: needs decommission"
    )


def test_plan_git_range_head_is_the_committed_fleet_not_the_working_tree(fleet_repo: ScratchRepo):
    fleet = fleet_repo.path / "deployments"
    base = fleet_repo.git("rev-parse", "HEAD")
    replace(fleet, "clusters/local-demo/cluster.yaml", "domain: workshop.localhost", "domain: ws.localhost")
    head = fleet_repo.commit("workshop domain")
    replace(fleet, "clusters/local-demo/cluster.yaml", "provider: local", "provider: broken")  # uncommitted
    result = run("--fleet", str(fleet), "plan", "--json", "--base", base, "--head", head)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["prod"] == ["local-demo/workshop"]


def test_plan_git_range_errors(fleet_repo: ScratchRepo):
    result = run("--fleet", str(fleet_repo.path / "deployments"), "plan", "--base", "no-such-rev")
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: 'no-such-rev' is not a commit of the repository at {fleet_repo.path / 'deployments'}\n"
    )


def test_schema_prints_and_writes(tmp_path: Path):
    printed = json.loads(run("schema").stdout)
    assert printed == json_schemas()
    result = run("schema", "--out", str(tmp_path / "schema"))
    assert result.exit_code == 0
    assert json.loads((tmp_path / "schema/cluster.schema.json").read_text()) == json_schemas()["cluster"]
    assert json.loads((tmp_path / "schema/fleet.schema.json").read_text()) == json_schemas()["fleet"]


def test_validate_and_plan_import_no_dagster_or_pandas(fleet_repo: ScratchRepo):
    fleet = str(fleet_repo.path / "deployments")
    replace(fleet_repo.path / "deployments", "clusters/local-demo/cluster.yaml", "workshop.localhost", "ws.localhost")
    fleet_repo.commit("edit")
    argv = [
        ["--fleet", fleet, "validate"],
        ["--fleet", fleet, "plan", "--files", "charts/basehub/values.yaml"],
        ["--fleet", fleet, "plan", "--json", "--base", "HEAD~1"],
        ["--fleet", str(TWO_I_TWO_C), "validate"],
    ]
    heavy, output = heavy_imports(argv, ("dagster", "pandas", "gcsfs", "kubernetes", "pyarrow", "matplotlib"))
    assert heavy == []
    assert '"prod": [\n    "local-demo/workshop"\n  ]' in output  # the commands did run


def test_fleet_relative_paths(tmp_path: Path, monkeypatch):
    from hub_ops.cli.fleet import fleet_relative

    root = tmp_path / "deployments"
    (root / "clusters").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # the repo root, outside the fleet
    assert fleet_relative(Path("deployments"), "deployments/clusters/a/x.yaml") == "clusters/a/x.yaml"
    assert fleet_relative(Path("deployments"), "./deployments/clusters/a/x.yaml") == "clusters/a/x.yaml"
    assert (
        fleet_relative(Path("deployments"), "clusters/a/x.yaml") == "clusters/a/x.yaml"
    )  # root-relative, as documented
    assert fleet_relative(Path("deployments"), "README.md") == "README.md"
    assert fleet_relative(root, str(root / "charts/basehub/Chart.yaml")) == "charts/basehub/Chart.yaml"
    assert fleet_relative(root, "/etc/hosts") == "/etc/hosts"
    monkeypatch.chdir(root / "clusters")  # inside the fleet: paths stay root-relative
    assert fleet_relative(root, "clusters/a/x.yaml") == "clusters/a/x.yaml"
