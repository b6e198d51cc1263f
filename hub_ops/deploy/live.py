"""What is live, shaped like what a chart renders, so the two compare field by field.

A live object carries everything the API server adds (uid, status, managedFields, every
defaulted field). Like Argo CD's diff, a live object is *projected* onto the rendered one:
only the fields the chart sets are compared, so a hand edit of any of them shows as drift
while the server's own additions do not. Helm's stored manifest says which objects the
release owns (one the chart no longer renders is still live and would be removed).
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

from hub_ops.clients.helm import HelmClient
from hub_ops.clients.kube import ClusterAccess, KubeClient
from hub_ops.clients.kube_objects import LiveObjects


class LiveCluster(Protocol):
    def manifest(self, release: str, namespace: str) -> str | None: ...
    def values(self, release: str, namespace: str) -> dict[str, Any]: ...
    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...
    def close(self) -> None: ...


class ClusterView:
    """A cluster's helm releases and live objects (LiveCluster over the real clients)."""

    def __init__(self, access: ClusterAccess, name: str):
        self.helm = HelmClient(access)
        self.objects = LiveObjects(KubeClient(access, name=name))

    def manifest(self, release: str, namespace: str) -> str | None:
        return self.helm.manifest(release, namespace)

    def values(self, release: str, namespace: str) -> dict[str, Any]:
        return self.helm.get_values(release, namespace) if self.helm.current(release, namespace) else {}

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.objects.get(api_version, kind, namespace, name)

    def close(self) -> None:
        self.helm.close()


def as_applied(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` as the API server stores it where that differs in form only: a Secret's
    stringData folded into data (base64), empty maps, lists and nulls dropped."""
    out = dict(doc)
    if out.get("kind") == "Secret" and isinstance(out.get("stringData"), dict):
        data = dict(out.get("data") or {})
        for k, v in out.pop("stringData").items():
            data[k] = base64.b64encode(str(v if v is not None else "").encode()).decode()
        out["data"] = data
    return pruned(out)


def pruned(value: Any) -> Any:
    if isinstance(value, dict):
        items = {k: pruned(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def project(desired: Any, live: Any) -> Any:
    """`live` restricted to the fields `desired` sets (list items matched by name when they
    have one, extra live items kept: they are drift). A live value equal to the desired one
    up to the server's normal form (8081 vs "8081", 0.5 vs 500m) is returned as desired."""
    if isinstance(desired, dict) and isinstance(live, dict):
        return {k: project(v, live[k]) for k, v in desired.items() if k in live}
    if isinstance(desired, list) and isinstance(live, list):
        named = all(isinstance(d, dict) and "name" in d for d in desired) and all(isinstance(x, dict) for x in live)
        if desired and named:
            by_name = {x.get("name"): x for x in live}
            wanted = [d["name"] for d in desired]
            out = [project(d, by_name[d["name"]]) for d in desired if d["name"] in by_name]
            return out + [x for x in live if x.get("name") not in wanted]
        return [project(d, x) for d, x in zip(desired, live)] + live[len(desired) :]
    return desired if _same(desired, live) else live


def _same(desired: Any, live: Any) -> bool:
    if desired == live or str(desired) == str(live):
        return True
    if isinstance(desired, (str, int, float)) and isinstance(live, (str, int, float)):
        from kubernetes.utils import parse_quantity

        try:
            return parse_quantity(desired) == parse_quantity(live)
        except (ValueError, TypeError, ArithmeticError):
            return False
    return False
