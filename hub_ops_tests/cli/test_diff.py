"""`hub-ops diff` on a real git repo of a test fleet: exit codes, masking, --json, --live."""

from __future__ import annotations

import json

import dagster as dg
from click.testing import CliRunner

from hub_ops.cli import main
from hub_ops_tests.deploy.test_diff import (
    TOKEN,
    every_secret,
    offline_fleet,
    secret_forms,
    yaml_of,
)


def hub_ops(repo, age_key, *args: str):
    env = {"SOPS_AGE_KEY_FILE": str(age_key.path)}
    return CliRunner().invoke(main, ["--fleet", str(repo.root), "diff", *args], env=env, catch_exceptions=False)


def test_a_removed_pvc_exits_3_and_a_comment_exits_0(tmp_path, age_key):
    repo = offline_fleet(tmp_path, age_key)
    doc = yaml_of(repo, "clusters/alpha/common.values.yaml")
    doc["home"]["pvc"]["create"] = True
    repo.write_yaml("clusters/alpha/common.values.yaml", doc)
    with_pvc = repo.commit("alpha: homes on a PVC")
    doc["home"]["pvc"]["create"] = False
    repo.write_yaml("clusters/alpha/common.values.yaml", doc)
    without_pvc = repo.commit("alpha: no home PVC")
    path = repo.root / "clusters/alpha/common.values.yaml"
    path.write_text("# a comment only\n" + path.read_text())
    repo.commit("alpha: a comment")

    removed = hub_ops(repo, age_key, "--base", with_pvc, "--head", without_pvc)
    comment = hub_ops(repo, age_key, "--base", without_pvc)

    assert removed.exit_code == 3, removed.output
    pvc = f"PersistentVolumeClaim/{repo.namespace('alpha', 'prod')}/home-nfs"
    assert f"  alpha/prod: removed: {pvc}: PersistentVolumeClaim removed" in removed.output
    assert removed.output.splitlines()[1] == "RISK FLAGS (2):"  # flags on top
    assert comment.exit_code == 0, comment.output
    assert "alpha/staging: no change (planned, but renders the same: deploys nothing)" in comment.output


def test_json_and_text_never_show_a_secret(tmp_path, age_key):
    repo = offline_fleet(tmp_path, age_key)
    base = repo.head()
    repo.write_secret(
        "clusters/beta/enc-staging.secret.values.yaml",
        {"jupyterhub": {"hub": {"services": {"hub-ops": {"apiToken": "rotated-c0ffee-token"}}}}},
    )
    repo.commit("beta staging: rotate")

    text = hub_ops(repo, age_key, "--base", base)
    as_json = hub_ops(repo, age_key, "--base", base, "--hub", "beta/staging", "--json")

    assert (text.exit_code, as_json.exit_code) == (0, 0), text.output + as_json.output
    doc = json.loads(as_json.output)
    assert [(r["release"], r["changed"]) for r in doc["releases"]] == [("beta/staging", 2)]  # Secret + checksum
    secrets = every_secret(repo, age_key)
    assert {TOKEN, "rotated-c0ffee-token"} <= secrets
    assert [s for s in secret_forms(secrets) if s in text.output + as_json.output] == []


def test_live_shows_no_diff_after_a_deploy_then_the_drift_of_a_hand_edit(
    fleet_repo_factory, auto_kubelet, deploy_resources, age_key, kube_cluster
):
    from kubernetes import client

    from hub_ops.defs.deploy.jobs import deploy_job

    repo = fleet_repo_factory(clusters=("alpha",))
    with auto_kubelet(repo), dg.instance_for_test() as instance:
        config = {"hubs": ["alpha", "alpha/staging", "alpha/prod"], "dry_run": False, "start_server": False}
        result = deploy_job.execute_in_process(
            run_config={"ops": {"plan_deploy": {"config": {**config, "ready_timeout_s": 30, "health_timeout_s": 30}}}},
            instance=instance,
            resources=deploy_resources(repo),
            raise_on_error=False,
        )
        assert result.success

    in_sync = hub_ops(repo, age_key, "--live")
    assert in_sync.exit_code == 0, in_sync.output
    for rid in ("alpha", "alpha/staging", "alpha/prod"):
        assert f"{rid}: no change" in in_sync.output

    ns = repo.namespace("alpha", "prod")
    apps = client.AppsV1Api(kube_cluster.api_client())
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "hub", "image": "example.org/hand-edited:1"}]}}}}
    apps.patch_namespaced_deployment("hub", ns, patch)
    client.CoreV1Api(kube_cluster.api_client()).patch_namespaced_config_map(
        "hub", ns, {"data": {"singleuser.json": "{}"}}
    )

    drift = hub_ops(repo, age_key, "--live", "--hub", "alpha/prod", "--hub", "alpha/staging")
    assert drift.exit_code == 3, drift.output
    assert "alpha/staging: no change" in drift.output
    assert "alpha/prod: 0 added, 2 changed, 0 removed, 1 risk flag(s)" in drift.output
    assert f"--- live/Deployment/{ns}/hub" in drift.output
    assert "-        image: example.org/hand-edited:1" in drift.output
    assert "+        image: quay.io/jupyterhub/k8s-hub:4.3.3" in drift.output
    # only what the chart sets is compared (fields the server or a person adds are not drift)
    assert "-  singleuser.json: '{}'\n+  singleuser.json: |" in drift.output
    assert [s for s in secret_forms(every_secret(repo, age_key)) if s in in_sync.output + drift.output] == []
