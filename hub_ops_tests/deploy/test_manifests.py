"""Manifest digests and offline validation against Kubernetes schemas."""

from hub_ops.deploy.manifests import documents, manifest_digest, supported_version, validate, workloads

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hub}
spec:
  selector: {matchLabels: {app: hub}}
  template:
    metadata: {labels: {app: hub}}
    spec: {containers: [{name: hub, image: "x:1"}]}
"""
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"


def test_digest_ignores_document_order_and_comments():
    a = documents([DEPLOYMENT, "# Source: x\n" + CONFIGMAP])
    b = documents(["---\n" + CONFIGMAP + "---\n" + DEPLOYMENT])
    assert manifest_digest(a) == manifest_digest(b)
    assert manifest_digest(a) != manifest_digest(documents([CONFIGMAP]))
    assert workloads(a) == [("Deployment", "hub")]


def test_valid_objects_pass_and_unknown_fields_fail():
    assert validate(documents([DEPLOYMENT, CONFIGMAP]), "1.30.0") == []
    bad = documents([DEPLOYMENT.replace("selector:", "selektor: {}\n  selector:")])
    problems = validate(bad, "1.30.0")
    assert len(problems) == 1 and problems[0].startswith("Deployment/hub")


def test_supported_version_clamps_to_the_schemas_shipped():
    assert supported_version(30) == "1.30.0"
    assert supported_version(20) == "1.25.0"
    assert supported_version(99).startswith("1.3")
