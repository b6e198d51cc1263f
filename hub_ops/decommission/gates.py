"""Gate: no user server may be running on a hub that is about to be retired."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub_ops.clients.jupyterhub import HubApi, HubApiError
from hub_ops.clients.kube import ClusterUnreachable, KubeClient

# z2jh labels user pods component=singleuser-server
SINGLEUSER_SELECTOR = "component=singleuser-server"


@dataclass
class ActivityGate:
    passed: bool
    servers: list[str] = field(default_factory=list)  # "user (source)" entries
    checked: list[str] = field(default_factory=list)  # which sources answered
    problems: list[str] = field(default_factory=list)  # sources that could not be asked

    def describe(self) -> str:
        if self.passed:
            return f"no user server running (checked: {', '.join(self.checked)})"
        text = []
        if self.servers:
            text.append(f"{len(self.servers)} user server(s) running: {', '.join(self.servers[:20])}")
        if self.problems:
            text.append("could not check for running servers: " + "; ".join(self.problems))
        return "; ".join(text)


def check_no_servers(
    hub_api: HubApi | None, kube: KubeClient | None, namespace: str, why_not: dict[str, str] | None = None
) -> ActivityGate:
    """Ask both sources that can see user servers: the hub's JupyterHub API and the
    namespace's singleuser pods. The gate passes only when BOTH answered and neither shows a
    running server: a source that could not be asked (None, with the reason in
    `why_not["JupyterHub API"]` / `why_not["pods"]`, or one that failed) closes it, since an
    unanswerable source is not proof of an idle hub."""
    from kubernetes.client.exceptions import ApiException

    why_not = why_not or {}
    gate = ActivityGate(passed=False)
    if hub_api is None:
        gate.problems.append(f"JupyterHub API: not asked ({why_not.get('JupyterHub API', 'no client')})")
    else:
        try:
            for s in hub_api.running_servers():
                gate.servers.append(f"{s['user']}{'/' + s['server'] if s['server'] else ''} (JupyterHub API)")
            gate.checked.append("JupyterHub API")
        except HubApiError as e:
            gate.problems.append(f"JupyterHub API: {e}")
    if kube is None:
        gate.problems.append(f"singleuser pods in {namespace}: not asked ({why_not.get('pods', 'no cluster API')})")
    else:
        try:
            if kube.namespace_exists(namespace):
                for pod in kube.pods(namespace, SINGLEUSER_SELECTOR):
                    if pod.status and pod.status.phase in ("Pending", "Running"):
                        gate.servers.append(f"pod {pod.metadata.name}")
            gate.checked.append(f"singleuser pods in {namespace}")
        except (ClusterUnreachable, ApiException) as e:
            reason = f"{e.status} {e.reason}" if isinstance(e, ApiException) else str(e)
            gate.problems.append(f"singleuser pods in {namespace}: {reason}")
    gate.passed = not gate.problems and not gate.servers
    return gate
