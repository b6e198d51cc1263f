"""Helm releases through helm-python-sdk (the Helm v4 SDK in-process; no helm binary).

Narrow on purpose (render, current, history, upgrade_install, rollback, uninstall,
get_values) so the engine could be swapped without touching callers. Release names and
namespaces are per call; one helm Config per namespace is kept (helm binds it there), and
made again when the cluster token changed (helm's Config holds a token, not a provider).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub_ops.clients.kube import ClusterAccess, ClusterUnreachable


class HelmFailure(RuntimeError):
    """A helm action failed; carries helm's own message."""


@dataclass(frozen=True)
class ReleaseInfo:
    name: str
    namespace: str
    revision: int
    status: str  # deployed | failed | pending-upgrade | superseded | uninstalled ...
    chart: str  # name-version
    chart_version: str
    updated: str

    @classmethod
    def from_helm(cls, doc: dict[str, Any]) -> ReleaseInfo:
        """From helm-python-sdk's release summary (a flat JSON object)."""
        return cls(
            name=doc.get("name", ""),
            namespace=doc.get("namespace", ""),
            revision=int(doc.get("revision") or 0),
            status=str(doc.get("status", "")),
            chart=f"{doc.get('chart_name', '')}-{doc.get('chart_version', '')}",
            chart_version=str(doc.get("chart_version", "")),
            updated=str(doc.get("deployed_at", "") or ""),
        )


def render_chart(chart_path: Path, release: str, namespace: str, values: dict[str, Any]) -> dict[str, str]:
    """Render offline: template path -> manifest text. Raises HelmFailure with helm's message."""
    import helm_python

    try:
        chart = helm_python.Chart.load(chart_path)
        try:
            return chart.render(values, name=release, namespace=namespace, is_install=True)
        finally:
            chart.close()
    except helm_python.HelmError as e:
        raise HelmFailure(str(e)) from None


class HelmClient:
    def __init__(self, access: ClusterAccess):
        self.access = access
        self._configs: dict[str, tuple[Any, str | None]] = {}  # namespace -> (Config, its token)
        self._retired: list[Any] = []  # Configs of an older token: another thread may still use one
        self._lock = threading.Lock()

    def _config(self, namespace: str):
        import helm_python

        with self._lock:
            opts = {k: v for k, v in self.access.helm_options().items() if v not in (None, False)}
            token = opts.get("kube_token")
            cached = self._configs.get(namespace)
            if cached is None or cached[1] != token:
                if cached is not None:
                    self._retired.append(cached[0])
                self._configs[namespace] = (helm_python.Config(namespace=namespace, **opts), token)
            return self._configs[namespace][0]

    def _run(self, what: str, fn, *args, **kwargs):
        import helm_python

        try:
            return fn(*args, **kwargs)
        except helm_python.HelmNotFoundError:
            raise
        except helm_python.HelmError as e:
            if "Unauthorized" in str(e):  # the token was refused: the next Config asks for a new one
                self.access.invalidate_token()
            if "cluster unreachable" in str(e) or "connection refused" in str(e):
                raise ClusterUnreachable(f"helm {what}: {e}") from None
            raise HelmFailure(f"helm {what}: {e}") from None

    def current(self, release: str, namespace: str) -> ReleaseInfo | None:
        """The release's latest revision, or None if it was never installed (or uninstalled)."""
        import helm_python

        try:
            history = self._run("history", self._config(namespace).history, release)
        except helm_python.HelmNotFoundError:
            return None
        infos = [ReleaseInfo.from_helm(r) for r in history]
        return max(infos, key=lambda r: r.revision) if infos else None

    def history(self, release: str, namespace: str) -> list[ReleaseInfo]:
        import helm_python

        try:
            return [ReleaseInfo.from_helm(r) for r in self._run("history", self._config(namespace).history, release)]
        except helm_python.HelmNotFoundError:
            return []

    def last_deployed(self, release: str, namespace: str) -> ReleaseInfo | None:
        deployed = [r for r in self.history(release, namespace) if r.status in ("deployed", "superseded")]
        return max(deployed, key=lambda r: r.revision) if deployed else None

    def upgrade_install(
        self,
        chart_path: Path,
        release: str,
        namespace: str,
        values: dict[str, Any],
        description: str = "",
        timeout: int = 300,
        labels: dict[str, str] | None = None,
    ) -> ReleaseInfo:
        """`helm upgrade --install --create-namespace`, without helm's own wait (readiness and
        health are checked by the caller, which rolls back on failure). `labels` are stored
        on the release (helm's own labels), so releases can be found by owner later."""
        cfg = self._config(namespace)
        existing = self.current(release, namespace)
        if existing is None or existing.status == "uninstalled":
            doc = self._run(
                "install",
                cfg.install,
                str(chart_path),
                release,
                values,
                namespace=namespace,
                create_namespace=True,
                description=description[:200],
                timeout=timeout,
                labels=labels,
            )
        else:
            doc = self._run(
                "upgrade",
                cfg.upgrade,
                str(chart_path),
                release,
                values,
                namespace=namespace,
                description=description[:200],
                timeout=timeout,
                max_history=20,
                labels=labels,
            )
        return ReleaseInfo.from_helm(doc)

    def releases(self, label: str | None = None, value: str | None = None) -> list[tuple[ReleaseInfo, dict[str, str]]]:
        """Deployed releases of every namespace (with their labels), optionally only those
        whose helm label `label` equals `value`."""
        docs = self._run("list", self._config("default").list, all_namespaces=True)
        out = []
        for doc in docs:
            labels = doc.get("labels") or {}
            if label is None or labels.get(label) == value:
                out.append((ReleaseInfo.from_helm(doc), labels))
        return out

    def rollback(self, release: str, namespace: str, revision: int) -> ReleaseInfo:
        cfg = self._config(namespace)
        self._run("rollback", cfg.rollback, release, version=revision)
        current = self.current(release, namespace)
        assert current is not None
        return current

    def uninstall(self, release: str, namespace: str) -> bool:
        """Remove the release. False if there was nothing to remove."""
        import helm_python

        try:
            self._run("uninstall", self._config(namespace).uninstall, release)
            return True
        except helm_python.HelmNotFoundError:
            return False

    def manifest(self, release: str, namespace: str, revision: int | None = None) -> str | None:
        """The manifest helm applied for `revision` (default: the latest), or None if absent."""
        import helm_python

        try:
            doc = self._run("status", self._config(namespace).status, release, revision=revision)
        except helm_python.HelmNotFoundError:
            return None
        return doc.get("manifest")

    def get_values(self, release: str, namespace: str, revision: int | None = None) -> dict[str, Any]:
        doc = self._run("get values", self._config(namespace).get_values, release, revision=revision)
        return doc or {}

    def close(self) -> None:
        with self._lock:
            for cfg in [c for c, _ in self._configs.values()] + self._retired:
                cfg.close()
            self._configs.clear()
            self._retired.clear()
