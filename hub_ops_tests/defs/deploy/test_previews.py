"""change_previews: the sensor sees preview branches appear, move and go; a materialization
carries the diff against the watched branch, flags as a WARN check, and no secret anywhere
in the run's event log."""

from __future__ import annotations

import json

import dagster as dg

from hub_ops.defs.deploy.previews import change_previews, change_previews_sensor, preview_branches_partitions
from hub_ops.defs.shared.resources import FleetResource, GitResource, SopsResource
from hub_ops_tests.deploy.test_diff import TOKEN, every_secret, offline_fleet, secret_forms, yaml_of
from hub_ops_tests.fleet_repos import git
from hub_ops_tests.tables import rows


def resources(repo, age_key, tmp_path) -> dict:
    return {
        "fleet": FleetResource(root=str(repo.root)),
        "git": GitResource(cache_dir=str(tmp_path / "git-cache")),
        "sops": SopsResource(age_key_file=str(age_key.path)),
    }


def tick(instance, res, cursor=None):
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=res) as context:
        return change_previews_sensor(context)


def test_a_preview_branch_is_diffed_against_main_with_flags_and_no_secret(tmp_path, age_key):
    repo = offline_fleet(tmp_path, age_key)
    settings = yaml_of(repo, "fleet.yaml")
    settings["git"]["preview_branches"] = ["pr/*"]
    repo.write_yaml("fleet.yaml", settings)
    repo.commit("preview pr/* branches")
    git(repo.root, "checkout", "-q", "-b", "pr/7")
    repo.write_secret(
        "clusters/alpha/enc-prod.secret.values.yaml",
        {"jupyterhub": {"hub": {"services": {"hub-ops": {"apiToken": "pr7-rotated-token-aa11"}}}}},
    )
    doc = yaml_of(repo, "clusters/alpha/prod.values.yaml")
    doc["jupyterhub"]["hub"] = {"image": {"tag": "9.9.9"}}
    repo.write_yaml("clusters/alpha/prod.values.yaml", doc)
    head = repo.commit("pr 7: rotate, new hub image", push=False)
    git(repo.root, "push", "-q", "origin", "pr/7")
    git(repo.root, "checkout", "-q", "main")
    res = resources(repo, age_key, tmp_path)

    with dg.instance_for_test() as instance:
        first = tick(instance, res)
        assert [(r.partition_key, r.run_key) for r in first.run_requests] == [("pr:7", f"preview-pr:7-{head[:12]}")]
        assert [r.partition_keys for r in first.dynamic_partitions_requests] == [["pr:7"]]
        assert tick(instance, res, first.cursor).run_requests == []  # nothing moved: nothing again
        instance.add_dynamic_partitions(preview_branches_partitions.name, ["pr:7"])

        result = dg.materialize([change_previews], instance=instance, partition_key="pr:7", resources=res)

        assert result.success
        meta = result.asset_materializations_for_node("change_previews")[0].metadata
        assert (meta["head"].value, meta["releases"].value, meta["risk_flags"].value) == (head, 2, 1)
        assert meta["branch"].value == "refs/heads/pr/7"
        # alpha/staging: the canary the planner adds for a prod change, rendering the same
        assert "| `alpha/staging` | staging | 0 | 0 | 0 | 0 | no change" in meta["diff"].value
        assert "image quay.io/jupyterhub/k8s-hub:4.3.3 -> quay.io/jupyterhub/k8s-hub:9.9.9" in meta["diff"].value
        check = result.get_asset_check_evaluations()[0]
        assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
        assert rows(check.metadata["risk_flags"]) == [
            {
                "release": "alpha/prod",
                "kind": "image",
                "object": f"Deployment/{repo.namespace('alpha', 'prod')}/hub",
                "detail": "container hub: image quay.io/jupyterhub/k8s-hub:4.3.3 -> quay.io/jupyterhub/k8s-hub:9.9.9",
            }
        ]
        assert rows(check.metadata["not_compared"]) == []

        secrets = every_secret(repo, age_key) | {"pr7-rotated-token-aa11"}
        assert TOKEN in secrets
        records = instance.get_records_for_run(result.run_id).records
        log = "\n".join(json.dumps(dg.serialize_value(r.event_log_entry)) for r in records)
        assert "<secret: " in log  # the Secret's change is in the event log, as a digest
        assert [s for s in secret_forms(secrets) if s in log] == []

        git(repo.root, "push", "-q", "origin", "--delete", "pr/7")
        gone = tick(instance, res, first.cursor)
        assert [(type(r).__name__, r.partition_keys) for r in gone.dynamic_partitions_requests] == [
            ("DeleteDynamicPartitionsRequest", ["pr:7"])
        ]


def test_a_bad_preview_glob_names_the_file_line_and_key(tmp_path):
    import pytest

    from hub_ops.fleet import FleetConfigError
    from hub_ops.fleet.loader import load_settings

    (tmp_path / "fleet.yaml").write_text("git:\n  branch: main\n  preview_branches: ['pr/*', 'pr..x']\n")
    with pytest.raises(FleetConfigError) as e:
        load_settings(tmp_path)
    assert str(e.value) == (
        "fleet.yaml:3 git.preview_branches: 'pr..x' is not a branch or ref glob (contains '..'); "
        "e.g. 'pr/*' or 'refs/pull/*/head'"
    )
