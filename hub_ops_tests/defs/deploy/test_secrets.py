"""Secrets never reach Dagster: after a successful deploy, a deploy the API server rejects
(its error quoting a secret value, then rolled back) and a failed health check (rolled
back), no secret value of the fleet nor its base64 is anywhere in the instance: the event
log, compute logs and every other file under the instance's folder, run tags, run config,
asset metadata. Against the local stack."""

import base64
import json
import secrets
from pathlib import Path

import dagster as dg

from hub_ops.defs.deploy.assets import HUB_RELEASES
from hub_ops_tests.defs.deploy.test_jobs import run_deploy, step_status


def hits(haystack: bytes, needles: dict[str, bytes]) -> list[str]:
    return [name for name, needle in needles.items() if needle in haystack]


def test_no_secret_value_or_its_base64_anywhere_in_the_instance(
    fleet_repo_factory, auto_kubelet, deploy_resources, age_key, jupyterhub_server
):
    repo = fleet_repo_factory(clusters=("alpha", "beta"))
    short = "Zq7x" + secrets.choice("abcdefgh")  # short: redacted only as a whole word
    wrong = "wrong-token-" + secrets.token_hex(8)
    hub_token = jupyterhub_server.api_token
    values = [hub_token, short, wrong, age_key.path.read_text().splitlines()[-1]]
    needles = {}
    for i, value in enumerate(values):
        needles[f"secret {i}"] = value.encode()
        needles[f"secret {i} base64"] = base64.b64encode(value.encode())

    resources = deploy_resources(repo)
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        # 1. a successful deploy
        ok = run_deploy(resources, instance, hubs=["alpha/staging", "alpha/prod"])
        assert ok.success

        # 2. a deploy whose values the API server rejects, quoting the (secret) value; rolled back
        repo.write_secret(
            "clusters/alpha/enc-prod.secret.values.yaml",
            {
                "jupyterhub": {
                    "hub": {"services": {"hub-ops": {"apiToken": hub_token}}},
                    "proxy": {"service": {"type": short}},
                }
            },
        )
        repo.commit("alpha prod: a secret where it does not belong")
        rejected = run_deploy(resources, instance, hubs=["alpha/prod"])
        assert step_status(rejected)["deploy_prod[alpha]"] == "STEP_FAILURE"
        failure = [
            e
            for e in rejected.all_events
            if e.event_type_value == "STEP_FAILURE" and e.step_key == "deploy_prod[alpha]"
        ][-1]
        text = failure.event_specific_data.error.message
        assert 'Unsupported value: "***"' in text and "rolled back to revision 1" in text, text

        # 3. a failed health check (a token the hub refuses); rolled back
        repo.write_secret(
            "clusters/beta/enc-staging.secret.values.yaml",
            {"jupyterhub": {"hub": {"services": {"hub-ops": {"apiToken": wrong}}}}},
        )
        repo.commit("beta staging: wrong token")
        unhealthy = run_deploy(resources, instance, hubs=["beta/staging", "beta/prod"])
        assert step_status(unhealthy)["check_staging[beta]"] == "STEP_FAILURE"

        runs = [ok, rejected, unhealthy]
        found = {}
        for result in runs:
            run = instance.get_run_by_id(result.run_id)
            found[f"{result.run_id} tags"] = hits(json.dumps(run.tags).encode(), needles)
            found[f"{result.run_id} config"] = hits(json.dumps(run.run_config).encode(), needles)
            events = json.dumps([e.to_json() for e in instance.all_logs(result.run_id)]).encode()
            found[f"{result.run_id} events"] = hits(events, needles)
        for record in instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=HUB_RELEASES), limit=100).records:
            metadata = json.dumps({k: str(v) for k, v in record.asset_materialization.metadata.items()}).encode()
            found[f"materialization {record.storage_id}"] = hits(metadata, needles)
        files = [p for p in Path(instance.root_directory).rglob("*") if p.is_file()]
        compute_logs = [p for p in files if "compute_logs" in p.parts]
        assert compute_logs and any(p.stat().st_size for p in compute_logs)  # what was searched
        for path in files:
            found[str(path)] = hits(path.read_bytes(), needles)
        assert {where: what for where, what in found.items() if what} == {}
