"""The secrets alerts need, and the ones they must never show.

Routes name `file#key` of sops files next to fleet.yaml (decrypted in memory, once per file
per use); every string of every sops file of the fleet is redacted from messages, so a
helm error quoting a rendered token, or a webhook URL in a connection error, never reaches
a channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub_ops.clients.sops import Sops
from hub_ops.deploy.values import ValuesError, load_values_files
from hub_ops.fleet import Fleet
from hub_ops.fleet.loader import is_secret_name

# shorter strings of a sops file (a key id "demo", a type) are no secrets worth garbling
# every message for: "local-demo" would read "local-***"
MIN_SECRET_LEN = 8


class AlertSecretError(RuntimeError):
    """A route's secret cannot be read; names the file and key, never a value."""


class SecretResolver:
    """`file#key` -> the decrypted value, files relative to the fleet root."""

    def __init__(self, root: str | Path, sops: Sops):
        self.root = Path(root)
        self.sops = sops
        self._docs: dict[str, Any] = {}

    def value(self, ref: str) -> Any:
        name, _, key = ref.partition("#")
        if name not in self._docs:
            try:
                self._docs[name] = self.sops.decrypt(self.root / name, name)
            except FileNotFoundError:
                raise AlertSecretError(f"{name}: file not found (named by fleet.yaml alerts)") from None
            except Exception as e:  # SopsError names the file only
                raise AlertSecretError(str(e)) from None
        doc: Any = self._docs[name]
        for part in key.split("."):
            if not isinstance(doc, dict) or part not in doc:
                raise AlertSecretError(f"{name}: no key {key!r}")
            doc = doc[part]
        return doc

    def strings(self) -> set[str]:
        """Every string value of the files decrypted so far (and the parts of URLs that
        errors quote: `Max retries exceeded with url: /services/T0/B0/xyz`)."""
        return with_url_parts({s for doc in self._docs.values() for s in _strings(doc)})


def fleet_secret_files(fleet: Fleet) -> list[Path]:
    """Every sops file the fleet names: hub and support values, provider keys, alert secrets."""
    paths: set[Path] = set()
    for cluster in fleet.clusters.values():
        folder = fleet.cluster_dir(cluster.name)
        paths.update(p for p in fleet.support_values_paths(cluster) if is_secret_name(p.name))
        for hub in cluster.hubs:
            paths.update(p for p in fleet.values_paths(hub) if is_secret_name(p.name))
        for provider, key in (("gcp", "key"), ("aws", "key"), ("azure", "key"), ("kubeconfig", "file")):
            block = getattr(cluster, provider)
            name = getattr(block, key, None) if block is not None else None
            if name and is_secret_name(name):
                paths.add(folder / name)
    for route in fleet.settings.alerts.routes:
        for _, ref in route.secret_refs():
            paths.add(fleet.root / ref.partition("#")[0])
    return sorted(p for p in paths if p.is_file())


def fleet_secret_values(fleet: Fleet, sops: Sops) -> set[str]:
    """Every string of every sops file of the fleet (files that fail to decrypt are skipped:
    their values cannot be in any output hub_ops produced either), less the values the
    plaintext config also states (a key file's project id is the cluster's name: hiding it
    would hide where a failure is, and it is no secret)."""
    values: set[str] = set()
    for path in fleet_secret_files(fleet):
        try:
            load_values_files([path], sops, fleet.root, secrets_out=values)
        except ValuesError:
            continue
    return with_url_parts({v for v in values if len(v) >= MIN_SECRET_LEN} - _plaintext_values(fleet))


def with_url_parts(values: set[str]) -> set[str]:
    """`values` plus, for each URL among them, its path with the query (where a webhook URL
    keeps its secret) when that is long enough not to be a common word."""
    out = set(values)
    for value in values:
        parts = urlsplit(value) if "://" in value else None
        if parts and parts.path:
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(tail.strip("/")) >= 8:
                out.update({tail, tail.lstrip("/")})
    return out


def _plaintext_values(fleet: Fleet) -> set[str]:
    docs: list[Any] = [fleet.settings.model_dump(mode="json")]
    docs += [cluster.model_dump(mode="json") for cluster in fleet.clusters.values()]
    return {s for doc in docs for s in _strings(doc)}


def _strings(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [s for v in doc.values() for s in _strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return [doc] if isinstance(doc, str) and len(doc) >= 4 else []
