"""Masking and risk flags on hand-written objects: every form a secret takes in a manifest."""

from __future__ import annotations

import base64
import hashlib
import json

from hub_ops.deploy.masking import Masker
from hub_ops.deploy.risks import risk_flags

SECRET = "s3cr3t-value-7f"


def shown(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return f"<secret: {hashlib.sha256(data).hexdigest()[:12]}>"


def test_every_form_of_a_sops_value_is_masked_with_the_digest_of_its_plaintext():
    blob = base64.b64encode(f"[auth]\nkey = {SECRET}\n".encode()).decode()
    doc = {
        "kind": "ConfigMap",
        "data": {
            "raw": f"url=https://x/?t={SECRET}",
            "json": json.dumps({"k": SECRET + '"q'}),
            "b64": base64.b64encode(SECRET.encode()).decode(),
            "blob": blob,
        },
    }
    masked = Masker({SECRET, SECRET + '"q'}).doc(doc)
    text = json.dumps(masked)
    assert SECRET not in text and base64.b64encode(SECRET.encode()).decode().rstrip("=") not in text
    assert masked["data"]["raw"] == f"url=https://x/?t={shown(SECRET)}"
    assert json.loads(masked["data"]["json"]) == {"k": shown(SECRET + '"q')}
    assert masked["data"]["b64"] == shown(SECRET)
    assert masked["data"]["blob"] == shown(f"[auth]\nkey = {SECRET}\n")
    assert doc["data"]["raw"].endswith(SECRET)  # the original is left alone


def test_secret_data_is_masked_whatever_its_origin():
    doc = {"apiVersion": "v1", "kind": "Secret", "data": {"a": base64.b64encode(b"not-from-sops").decode()}}
    doc["stringData"] = {"b": "plain"}
    assert Masker().doc(doc)["data"] == {"a": shown("not-from-sops")}
    assert Masker().doc(doc)["stringData"] == {"b": shown("plain")}


def pod_workload(kind: str, image: str, cpu: str, **spec) -> dict:
    container = {"name": "c", "image": image, "resources": {"requests": {"cpu": cpu}}}
    return {"kind": kind, "spec": {**spec, "template": {"spec": {"containers": [container]}}}}


def test_risk_flags_name_what_changed():
    base = {
        "StatefulSet/n/db": pod_workload("StatefulSet", "db:1", "1", serviceName="db"),
        "Deployment/n/web": pod_workload("Deployment", "web:1", "1"),
        "Namespace//n": {"kind": "Namespace"},
        "Service/n/web": {"kind": "Service", "spec": {"ports": [{"port": 80}]}},
    }
    head = {
        "StatefulSet/n/db": pod_workload("StatefulSet", "db:1", "1", serviceName="db2"),
        "Deployment/n/web": pod_workload("Deployment", "web:2", "2"),
        "Service/n/web": {"kind": "Service", "spec": {"ports": [{"port": 8080}]}},
    }
    flags = [(f.kind, f.object) for f in risk_flags(base, head)]
    assert flags == [
        ("replaced", "StatefulSet/n/db"),
        ("image", "Deployment/n/web"),
        ("resources", "Deployment/n/web"),
        ("removed", "Namespace//n"),
        ("service", "Service/n/web"),
    ]
    assert risk_flags(base, base) == []
