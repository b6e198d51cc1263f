"""hub_ops's own deployment: every dagster.yaml against Dagster's config schemas (the
instance's and each configured class's, e.g. K8sRunLauncher's), and the helm values for
dagster/dagster checked for the settings production depends on."""

from pathlib import Path
from unittest.mock import ANY

import pytest
import yaml

from hub_ops_tests.conftest import REPO
from hub_ops_tests.deployments.instance_config import instance_config_problems

PRODUCTION = REPO / "deployments" / "hub-ops"
DAGSTER_YAMLS = sorted(
    p
    for p in REPO.glob("**/dagster.yaml")
    if not any(part in (".venv", ".data", "node_modules") or part.startswith(".") for part in p.relative_to(REPO).parts)
)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_both_instance_variants_are_found():
    assert [p.relative_to(REPO).as_posix() for p in DAGSTER_YAMLS] == [
        "dagster.yaml",
        "deployments/hub-ops/dagster.yaml",
    ]


@pytest.mark.parametrize("path", DAGSTER_YAMLS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_dagster_yaml_is_valid_for_dagster(path):
    assert instance_config_problems(path) == []


@pytest.mark.parametrize(
    "section, where",
    [
        ("run_launcher", ["run_launcher", "config"]),
        ("run_launcher", ["run_launcher", "config", "run_k8s_config"]),
        ("compute_logs", ["compute_logs", "config"]),
        ("run_coordinator", ["run_coordinator", "config"]),
        ("instance", []),
    ],
)
def test_a_made_up_key_fails_validation(tmp_path, section, where):
    config = load(PRODUCTION / "dagster.yaml")
    target = config
    for key in where:
        target = target[key]
    target["job_ttl_hours"] = 1  # not a key of any of these
    bad = tmp_path / "dagster.yaml"
    bad.write_text(yaml.safe_dump(config))
    problems = instance_config_problems(bad)
    assert problems and all(p.startswith(section) for p in problems)
    assert "job_ttl_hours" in " ".join(problems)


def test_a_wrong_type_in_the_launcher_config_fails(tmp_path):
    config = load(PRODUCTION / "dagster.yaml")
    config["run_launcher"]["config"]["env_secrets"] = "hub-ops-secrets"  # a list is required
    bad = tmp_path / "dagster.yaml"
    bad.write_text(yaml.safe_dump(config))
    assert any(p.startswith("run_launcher (K8sRunLauncher)") for p in instance_config_problems(bad))


# ------------------------------------------------------------------ helm values

# top-level keys of the dagster/dagster chart (1.13): a misspelt key would be ignored by helm
CHART_KEYS = {
    "global",
    "nameOverride",
    "fullnameOverride",
    "rbacEnabled",
    "imagePullSecrets",
    "dagsterWebserver",
    "dagster-user-deployments",
    "postgresql",
    "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret",
    "rabbitmq",
    "redis",
    "flower",
    "ingress",
    "computeLogManager",
    "scheduler",
    "runLauncher",
    "pythonLogs",
    "dagsterDaemon",
    "busybox",
    "migrate",
    "telemetry",
    "serviceAccount",
    "retention",
    "concurrency",
    "additionalInstanceConfig",
    "defsStateStorage",
}


@pytest.fixture(scope="module")
def values() -> dict:
    return load(PRODUCTION / "values.yaml")


@pytest.fixture(scope="module")
def instance() -> dict:
    return load(PRODUCTION / "dagster.yaml")


def test_values_use_only_chart_keys(values):
    assert set(values) <= CHART_KEYS, set(values) - CHART_KEYS


def test_code_location_image_module_and_production_env(values):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert values["dagster-user-deployments"]["enabled"] is True
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "hub_ops.definitions"]
    assert deployment["image"]["repository"] and deployment["image"]["tag"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert {"name": "HUB_OPS_ENV", "value": "production"} in deployment["env"]
    assert values["dagsterWebserver"]["env"]["HUB_OPS_ENV"] == "production"
    assert values["dagsterDaemon"]["env"]["HUB_OPS_ENV"] == "production"
    assert "HUB_OPS_ENV=production" in values["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]
    # one image for every part, so they share the pinned Dagster version
    images = {
        (part["image"]["repository"], part["image"]["tag"])
        for part in (deployment, values["dagsterWebserver"], values["dagsterDaemon"])
    }
    assert len(images) == 1


def test_k8s_run_launcher_with_job_ttl(values):
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    assert launcher["loadInclusterConfig"] is True
    ttl = launcher["runK8sConfig"]["jobSpecConfig"]["ttlSecondsAfterFinished"]
    assert 0 < ttl < 24 * 3600  # below dagster-k8s's 24 h default


def test_postgres_is_external_and_its_password_comes_from_a_secret(values):
    pg = values["postgresql"]
    assert pg["enabled"] is False and pg["postgresqlHost"]
    assert "postgresqlPassword" not in pg
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"] == "hub-ops-postgresql"
    assert pg["postgresqlScheme"] == "postgresql+psycopg2"


def test_secrets_only_from_kubernetes_secrets(values):
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert {"name": "hub-ops-secrets"} in deployment["envSecrets"]
    assert {"name": "hub-ops-secrets"} in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]

    def literal_secrets(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                lowered = str(key).lower()
                if (
                    any(w in lowered for w in ("password", "token", "secretkey", "private"))
                    and isinstance(value, str)
                    and value
                ):
                    yield f"{path}.{key}"
                yield from literal_secrets(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if (
                    isinstance(item, dict)
                    and "value" in item
                    and any(w in str(item.get("name", "")).lower() for w in ("key", "token", "password"))
                ):
                    yield f"{path}[{i}]"
                yield from literal_secrets(item, f"{path}[{i}]")

    assert list(literal_secrets(values)) == []


def test_workload_identity_service_account(values):
    annotation = values["serviceAccount"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert annotation.endswith(".iam.gserviceaccount.com")
    assert values["serviceAccount"]["name"] == values["global"]["serviceAccountName"]


def test_run_queue_limits_and_pools(values):
    limits = {
        (lim["key"], yaml.safe_dump(lim.get("value"))): lim["limit"]
        for lim in values["concurrency"]["runs"]["tagConcurrencyLimits"]
    }
    assert limits[("hub_ops/hub", yaml.safe_dump({"applyLimitPerUniqueValue": True}))] == 1
    assert limits[("hub_ops/kind", yaml.safe_dump("backup"))] >= 1
    assert values["concurrency"]["enabled"] is True and values["concurrency"]["pools"]["defaultLimit"] >= 1
    # Dagster refuses limits in both places: they stay under `concurrency`
    assert "tag_concurrency_limits" not in rendered_run_coordinator(values)["config"]


def rendered_run_coordinator(values: dict) -> dict:
    """The instance's run_coordinator as the dagster/dagster chart renders a
    CustomRunCoordinator (its _dagster-yaml template: module, class and config verbatim)."""
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["enabled"] is True and coordinator["type"] == "CustomRunCoordinator"
    custom = coordinator["config"]["customRunCoordinator"]
    return {"module": custom["module"], "class": custom["class"], "config": custom["config"]}


def test_the_hub_run_coordinator_renders_valid_for_dagster(values, instance, tmp_path):
    rendered = rendered_run_coordinator(values)
    assert (rendered["module"], rendered["class"]) == ("hub_ops.defs.shared.run_queue", "HubRunCoordinator")
    assert rendered == instance["run_coordinator"] == {**load(REPO / "dagster.yaml")["run_coordinator"], "config": ANY}
    # the rendered section beside the values' concurrency, through Dagster's instance schema and
    # the class's own config schema (a misspelt key in customRunCoordinator.config fails here)
    path = tmp_path / "dagster.yaml"
    path.write_text(yaml.safe_dump({"run_coordinator": rendered, "concurrency": instance["concurrency"]}))
    assert instance_config_problems(path) == []
    rendered["config"]["dequeue_workers"] = 4
    path.write_text(yaml.safe_dump({"run_coordinator": rendered}))
    assert any("dequeue_workers" in p for p in instance_config_problems(path))


def test_run_monitoring_on(values):
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert monitoring["enabled"] is True and monitoring["startTimeoutSeconds"] > 0


def test_webserver_is_not_exposed_without_the_proxy(values):
    assert values["dagsterWebserver"]["service"]["type"] == "ClusterIP"
    assert values["ingress"]["enabled"] is False


def test_instance_file_agrees_with_the_values(values, instance):
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    config = instance["run_launcher"]["config"]
    assert (
        config["run_k8s_config"]["job_spec_config"]["ttl_seconds_after_finished"]
        == launcher["runK8sConfig"]["jobSpecConfig"]["ttlSecondsAfterFinished"]
    )
    assert config["env_secrets"] == [s["name"] for s in launcher["envSecrets"]]
    assert config["env_vars"] == launcher["envVars"]
    assert config["service_account_name"] == values["global"]["serviceAccountName"]
    assert config["postgres_password_secret"] == values["global"]["postgresqlSecretName"]
    assert (
        instance["concurrency"]["runs"]["tag_concurrency_limits"]
        == values["concurrency"]["runs"]["tagConcurrencyLimits"]
    )
    assert instance["concurrency"]["runs"]["max_concurrent_runs"] == values["concurrency"]["runs"]["maxConcurrentRuns"]
    assert instance["concurrency"]["pools"]["default_limit"] == values["concurrency"]["pools"]["defaultLimit"]
    monitoring = values["dagsterDaemon"]["runMonitoring"]
    assert instance["run_monitoring"] == {
        "enabled": True,
        "start_timeout_seconds": monitoring["startTimeoutSeconds"],
        "cancel_timeout_seconds": monitoring["cancelTimeoutSeconds"],
        "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
        "poll_interval_seconds": monitoring["pollIntervalSeconds"],
        "free_slots_after_run_end_seconds": monitoring["freeSlotsAfterRunEndSeconds"],
    }
    assert (
        instance["compute_logs"]["config"]["bucket"]
        == values["computeLogManager"]["config"]["gcsComputeLogManager"]["bucket"]
    )


def test_local_and_production_queue_on_the_same_tags(instance):
    local = load(REPO / "dagster.yaml")

    def keys(config):
        return [(lim["key"], lim.get("value")) for lim in config["concurrency"]["runs"]["tag_concurrency_limits"]]

    assert keys(local) == keys(instance)
