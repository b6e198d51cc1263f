"""Risk flags: the changes to a release a reviewer must look at twice.

Computed on the unmasked objects (so a secret change inside an authenticator config still
counts) but every flag names only kinds, objects, fields and images, never a value; callers
pass `detail` through the Masker anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from typing import Any

import yaml

# kinds whose removal loses data or everything in them
PRECIOUS_KINDS = ("PersistentVolumeClaim", "Namespace", "StatefulSet")
# StatefulSet fields Kubernetes refuses to update: changing one means delete and re-create
STATEFULSET_IMMUTABLE = ("selector", "serviceName", "volumeClaimTemplates", "podManagementPolicy")
POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
AUTH_MARK = "authenticat"  # Authenticator, authenticator_class, GitHubOAuthenticator, ...


@dataclass(frozen=True)
class RiskFlag:
    kind: str  # removed | replaced | image | resources | service | authenticator
    object: str  # kind/namespace/name, or the release
    detail: str

    def text(self) -> str:
        return f"{self.kind}: {self.object}: {self.detail}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def risk_flags(base: dict[str, dict[str, Any]], head: dict[str, dict[str, Any]]) -> list[RiskFlag]:
    """Flags for going from `base` to `head` (objects by kind/namespace/name)."""
    flags: list[RiskFlag] = []
    for key, old in base.items():
        new = head.get(key)
        kind = old.get("kind", "")
        if new is None:
            if kind in PRECIOUS_KINDS:
                flags.append(RiskFlag("removed", key, f"{kind} removed"))
            continue
        flags += _replaced(key, kind, old, new)
        flags += _containers(key, old, new)
        if kind == "Service":
            flags += _service(key, old, new)
    for key, new in head.items():
        if key not in base:
            continue
        before, after = _auth(base[key]), _auth(new)
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        if changed:
            flags.append(RiskFlag("authenticator", key, "authenticator config changed: " + ", ".join(changed[:5])))
    return flags


def _replaced(key: str, kind: str, old: dict, new: dict) -> list[RiskFlag]:
    if kind == "PersistentVolumeClaim":
        old_spec, new_spec = dict(old.get("spec") or {}), dict(new.get("spec") or {})
        old_spec.pop("resources", None), new_spec.pop("resources", None)  # a size increase is an update
        if old_spec != new_spec:
            fields = sorted(k for k in set(old_spec) | set(new_spec) if old_spec.get(k) != new_spec.get(k))
            return [RiskFlag("replaced", key, f"PersistentVolumeClaim spec {', '.join(fields)} changed (immutable)")]
    if kind == "StatefulSet":
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        fields = [f for f in STATEFULSET_IMMUTABLE if old_spec.get(f) != new_spec.get(f)]
        if fields:
            return [RiskFlag("replaced", key, f"StatefulSet {', '.join(fields)} changed (immutable: re-created)")]
    return []


def _pod_containers(doc: dict) -> dict[str, dict]:
    spec = doc.get("spec") or {}
    if doc.get("kind") in POD_TEMPLATE_KINDS:
        spec = ((spec.get("template") or {}).get("spec")) or {}
    elif doc.get("kind") == "CronJob":
        spec = ((((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")) or {}
    elif doc.get("kind") != "Pod":
        return {}
    out = {}
    for field in ("initContainers", "containers"):
        for c in spec.get(field) or []:
            if isinstance(c, dict):
                out[f"{field[:-1]} {c.get('name')}"] = c
    return out


def _containers(key: str, old: dict, new: dict) -> list[RiskFlag]:
    flags = []
    before, after = _pod_containers(old), _pod_containers(new)
    for name in sorted(set(before) & set(after)):
        if before[name].get("image") != after[name].get("image"):
            flags.append(
                RiskFlag("image", key, f"{name}: image {before[name].get('image')} -> {after[name].get('image')}")
            )
        if (before[name].get("resources") or {}) != (after[name].get("resources") or {}):
            flags.append(RiskFlag("resources", key, f"{name}: resource requests/limits changed"))
    for name in sorted(set(after) - set(before)):
        if before:  # a container added to an existing workload brings its own image
            flags.append(RiskFlag("image", key, f"{name} added: image {after[name].get('image')}"))
    return flags


def _service(key: str, old: dict, new: dict) -> list[RiskFlag]:
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    flags = []
    if old_spec.get("type", "ClusterIP") != new_spec.get("type", "ClusterIP"):
        flags.append(
            RiskFlag("service", key, f"type {old_spec.get('type', 'ClusterIP')} -> {new_spec.get('type', 'ClusterIP')}")
        )
    if _ports(old_spec) != _ports(new_spec):
        flags.append(RiskFlag("service", key, f"ports {_ports(old_spec)} -> {_ports(new_spec)}"))
    return flags


def _ports(spec: dict) -> list[str]:
    return sorted(
        f"{p.get('name', '')}:{p.get('port')}/{p.get('protocol', 'TCP')}->{p.get('targetPort', p.get('port'))}"
        + (f" node {p['nodePort']}" if p.get("nodePort") else "")
        for p in spec.get("ports") or []
        if isinstance(p, dict)
    )


def _auth(doc: dict) -> dict[str, str]:
    """Digest-free fingerprint of every authenticator setting of an object: dotted path ->
    canonical JSON of its value, looking into config files kept in ConfigMap/Secret data."""
    found: dict[str, str] = {}
    roots: list[tuple[str, Any]] = [("", {k: v for k, v in doc.items() if k not in ("data", "stringData")})]
    for field in ("data", "stringData"):
        for name, value in (doc.get(field) or {}).items():
            text = _decode(value) if field == "data" and doc.get("kind") == "Secret" else value
            roots.append((f"{field}.{name}", _parsed(text)))
    for prefix, value in roots:
        _collect(prefix, value, found, inside=False)
    return found


def _collect(path: str, value: Any, found: dict[str, str], inside: bool) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            child = f"{path}.{k}" if path else str(k)
            _collect(child, v, found, inside or AUTH_MARK in str(k).lower())
    elif inside:
        found[path] = json.dumps(value, sort_keys=True, default=str)


def _decode(value: Any) -> Any:
    try:
        return base64.b64decode(str(value)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return value


def _parsed(text: Any) -> Any:
    """A config file's content as data when it is JSON or YAML, else the text itself."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "\n" in text or ":" in text:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            pass
    return text
