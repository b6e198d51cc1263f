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
        if self.servers:
            return f"{len(self.servers)} user server(s) running: {', '.join(self.servers[:20])}"
        return "could not check for running servers: " + "; ".join(self.problems)


def check_no_servers(hub_api: HubApi | None, kube: KubeClient | None, namespace: str) -> ActivityGate:
    """Ask the hub's API and the namespace's singleuser pods. The gate passes only when at
    least one source answered and none shows a running server: an unanswerable hub is not
    proof of an idle one."""
    gate = ActivityGate(passed=False)
    if hub_api is not None:
        try:
            for s in hub_api.running_servers():
                gate.servers.append(f"{s['user']}{'/' + s['server'] if s['server'] else ''} (JupyterHub API)")
            gate.checked.append("JupyterHub API")
        except HubApiError as e:
            gate.problems.append(f"JupyterHub API: {e}")
    if kube is not None:
        try:
            if kube.namespace_exists(namespace):
                for pod in kube.pods(namespace, SINGLEUSER_SELECTOR):
                    if pod.status and pod.status.phase in ("Pending", "Running"):
                        gate.servers.append(f"pod {pod.metadata.name}")
            gate.checked.append(f"singleuser pods in {namespace}")
        except ClusterUnreachable as e:
            gate.problems.append(str(e))
    gate.passed = bool(gate.checked) and not gate.servers
    return gate
