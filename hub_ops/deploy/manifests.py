"""Rendered manifests: comparing them with what is live, and validating them offline."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import yaml


def documents(manifests: Iterable[str]) -> list[dict[str, Any]]:
    docs = []
    for text in manifests:
        for doc in yaml.safe_load_all(text):
            if isinstance(doc, dict) and doc:
                docs.append(doc)
    return docs


def manifest_digest(docs: list[dict[str, Any]]) -> str:
    """Order-independent digest of Kubernetes objects (what helm would apply)."""
    canon = sorted(json.dumps(d, sort_keys=True, separators=(",", ":"), default=str) for d in docs)
    return "sha256:" + hashlib.sha256("\n".join(canon).encode()).hexdigest()


def workloads(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(kind, name) of the objects whose readiness a deploy waits for."""
    return [
        (d["kind"], d["metadata"]["name"])
        for d in docs
        if d.get("kind") in ("Deployment",) and (d.get("metadata") or {}).get("name")
    ]


def supported_version(minor: int) -> str:
    """The kubernetes-validate schema version closest to 1.<minor> (it ships 1.25 onwards)."""
    import kubernetes_validate.utils as kv

    versions = sorted(kv.all_versions(), key=lambda v: tuple(int(x) for x in v.split(".")))
    wanted = (1, minor)
    best = versions[0]
    for v in versions:
        if tuple(int(x) for x in v.split(".")[:2]) <= wanted:
            best = v
    return best


def validate(docs: list[dict[str, Any]], version: str) -> list[str]:
    """Problems of each object against the Kubernetes `version` schemas (strict: no unknown
    fields). Empty when all are valid."""
    import kubernetes_validate

    problems = []
    for d in docs:
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
            path = ".".join(str(p) for p in e.path) if getattr(e, "path", None) else ""
            problems.append(f"{where}{(' ' + path) if path else ''}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            problems.append(f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}: no schema for {e}")
    return problems
