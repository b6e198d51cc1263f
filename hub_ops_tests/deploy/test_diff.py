"""hub_ops.deploy.diff on real git repos of a test fleet (sops files encrypted with a real age
key; clusters unreachable on purpose: a diff of a commit range never needs one)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from hub_ops.clients.git import GitRepo
from hub_ops.clients.sops import Sops
from hub_ops.deploy.diff import diff_range
from hub_ops.fleet import load_fleet
from hub_ops.fleet.planner import plan_range
from hub_ops_tests.fleet_repos import FleetRepo, build_fleet_repo

TOKEN = "tok-3f9a1c-fleet-token"  # every hub's hub-ops token in the test fleet


def offline_fleet(base: Path, age_key) -> FleetRepo:
    """Clusters alpha and beta (APIs down), hubs staging and prod on each."""
    return build_fleet_repo(base / "fleet", clusters={"alpha": None, "beta": None}, hub_token=TOKEN, age=age_key)


def every_secret(repo: FleetRepo, age_key) -> set[str]:
    """Every string of every sops file of the repo at every commit, decrypted with the sops
    client directly (not through the code under test)."""
    git = GitRepo(repo.root)
    found: set[str] = set()
    for sha in git.commits(None, "HEAD"):
        tree = git.export(sha, repo.root.parent / "every-secret" / sha)
        for path in tree.rglob("enc-*"):
            found |= set(_strings(Sops(str(age_key.path)).decrypt(path)))
    return found


def _strings(doc) -> list[str]:
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in _strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return [doc] if isinstance(doc, str) else []


def secret_forms(secrets: set[str]) -> set[str]:
    out = set()
    for s in secrets:
        raw = s.encode()
        out |= {s, base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("=")}
    return out


def digest(value: str) -> str:
    return f"<secret: {hashlib.sha256(value.encode()).hexdigest()[:12]}>"


def diff(repo: FleetRepo, age_key, base: str, head: str = "HEAD", **kw):
    return diff_range(GitRepo(repo.root), base, head, Sops(str(age_key.path)), **kw)


def planned(repo: FleetRepo, base: str) -> list[str]:
    git = GitRepo(repo.root)
    plan = plan_range(load_fleet(repo.root), git.changed_paths(base, "HEAD"), lambda p: git.show(base, p))
    return plan.support + plan.staging + plan.prod


@pytest.fixture
def repo(tmp_path, age_key) -> FleetRepo:
    return offline_fleet(tmp_path, age_key)


def test_a_shared_values_change_diffs_exactly_the_hubs_the_planner_names(repo, age_key):
    base = repo.head()
    common = yaml_of(repo, "clusters/alpha/common.values.yaml")
    common["jupyterhub"]["hub"]["config"]["JupyterHub"]["admin_users"] = ["ada"]
    repo.write_yaml("clusters/alpha/common.values.yaml", common)
    repo.commit("alpha: an admin")

    result = diff(repo, age_key, base)

    assert [r.release for r in result.releases] == planned(repo, base) == ["alpha/staging", "alpha/prod"]
    for r in result.releases:
        ns = repo.namespace("alpha", r.release.split("/")[1])
        # the hub config is in the ConfigMap; the Deployment rolls through its checksum annotation
        assert {o.key: o.change for o in r.objects} == {
            f"ConfigMap/{ns}/hub": "changed",
            f"Deployment/{ns}/hub": "changed",
        }
        configmap = r.objects[0].diff
        assert (
            '+        "admin_users": [\n+          "ada"\n+        ],\n         "authenticator_class": "dummy"'
            in configmap
        )
        assert r.flags == []
    assert result.summary().startswith("fleet: 2 release(s), 2 changed, 0 no change; objects 0 added, 4 changed")


def test_a_sops_value_change_shows_a_digest_change_and_never_the_plaintext(repo, age_key):
    base = repo.head()
    new_token, client_secret = "tok-new-9b7e2d44", "gh-client-secret-5e1f0a77"
    repo.write_secret(
        "clusters/alpha/enc-prod.secret.values.yaml",
        {
            "jupyterhub": {
                "hub": {
                    "services": {"hub-ops": {"apiToken": new_token}},
                    "config": {"GitHubOAuthenticator": {"client_secret": client_secret}},
                }
            }
        },
    )
    repo.commit("alpha prod: rotate the token, add an OAuth client")

    result = diff(repo, age_key, base)
    out = "\n".join([result.text(), result.to_json(), result.markdown()])

    secrets = every_secret(repo, age_key)
    assert {TOKEN, new_token, client_secret} <= secrets
    leaked = sorted(s for s in secret_forms(secrets) if s in out)
    assert leaked == []
    prod = result.release("alpha/prod")
    secret_diff = next(o.diff for o in prod.objects if o.key.startswith("Secret/"))
    assert f"-  services.hub-ops.apiToken: '{digest(TOKEN)}'" in secret_diff
    assert f"+  services.hub-ops.apiToken: '{digest(new_token)}'" in secret_diff
    configmap = next(o.diff for o in prod.objects if o.key.startswith("ConfigMap/"))
    assert f'"client_secret": "{digest(client_secret)}"' in configmap
    assert [f.kind for f in prod.flags] == ["authenticator"]


def test_a_removed_pvc_is_a_risk_flag(repo, age_key):
    doc = yaml_of(repo, "clusters/beta/common.values.yaml")
    doc["home"]["pvc"]["create"] = True
    repo.write_yaml("clusters/beta/common.values.yaml", doc)
    base = repo.commit("beta: homes on a PVC")
    doc["home"]["pvc"]["create"] = False
    repo.write_yaml("clusters/beta/common.values.yaml", doc)
    repo.commit("beta: no home PVC")

    result = diff(repo, age_key, base)

    for hub in ("staging", "prod"):
        key = f"PersistentVolumeClaim/{repo.namespace('beta', hub)}/home-nfs"
        r = result.release(f"beta/{hub}")
        assert [(o.key, o.change) for o in r.objects] == [(key, "removed")]
        assert [(f.kind, f.object) for f in r.flags] == [("removed", key)]


def test_a_comment_only_change_is_no_change(repo, age_key):
    base = repo.head()
    path = repo.root / "clusters/alpha/common.values.yaml"
    path.write_text("# who to ask: the alpha team\n" + path.read_text())
    repo.commit("alpha: a comment")

    result = diff(repo, age_key, base)

    assert [r.release for r in result.releases] == planned(repo, base) == ["alpha/staging", "alpha/prod"]
    assert [(r.status, r.objects, r.flags) for r in result.releases] == [("no change", [], [])] * 2
    assert "alpha/prod: no change (planned, but renders the same: deploys nothing)" in result.text()


def test_only_names_releases_and_reports_those_not_planned(repo, age_key):
    base = repo.head()
    doc = yaml_of(repo, "clusters/alpha/common.values.yaml")
    doc["jupyterhub"]["proxy"] = {"service": {"type": "LoadBalancer"}}
    repo.write_yaml("clusters/alpha/common.values.yaml", doc)
    repo.commit("alpha: a LoadBalancer")

    result = diff(repo, age_key, base, only=["alpha/prod", "beta/prod"])

    assert [r.release for r in result.releases] == ["alpha/prod"]
    assert result.not_planned == ["beta/prod"]
    flag = result.release("alpha/prod").flags[0]
    assert (flag.kind, flag.object, flag.detail) == (
        "service",
        f"Service/{repo.namespace('alpha', 'prod')}/proxy-public",
        "type ClusterIP -> LoadBalancer",
    )
    assert json.loads(result.to_json())["risk_flags"][0]["release"] == "alpha/prod"


def yaml_of(repo: FleetRepo, rel: str) -> dict:
    import yaml

    return yaml.safe_load((repo.root / rel).read_text())
