"""A one-ConfigMap helm chart: enough to prove helm reached a cluster and wrote to it."""

from __future__ import annotations

from pathlib import Path


def tiny_chart(folder: Path) -> Path:
    """The chart `tiny` in `folder`: a ConfigMap `tiny` whose data.who is `.Values.who`."""
    (folder / "templates").mkdir(parents=True)
    (folder / "Chart.yaml").write_text("apiVersion: v2\nname: tiny\nversion: 0.1.0\n")
    (folder / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tiny}\ndata: {who: {{ .Values.who | quote }}}\n"
    )
    return folder


def install_tiny(access, folder: Path, namespace: str, who: str) -> str:
    """`helm upgrade --install` of the chart through `access` (HelmClient); the release status."""
    from hub_ops.clients.helm import HelmClient

    helm = HelmClient(access)
    try:
        return helm.upgrade_install(tiny_chart(folder), "tiny", namespace, {"who": who}).status
    finally:
        helm.close()
