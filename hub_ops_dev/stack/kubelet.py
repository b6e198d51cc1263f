"""A stand-in for the kubelet, for tests: nothing runs pods on the local stack.

It only writes what a kubelet would report (pod status through the status subresource)
and lets the real controllers do the rest: a Ready pod makes the ReplicaSet controller
count it, so the Deployment controller sets `Available`; a Succeeded pod makes the Job
controller mark the Job `Complete`. So a deploy wait or a Job wait sees the same API
objects it would see on a real cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes import client

from hub_ops_dev.stack.kube import wait_for

PHASES = ("Running", "Succeeded", "Failed")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, status: bool, now: str) -> dict:
    return {"type": kind, "status": "True" if status else "False", "lastTransitionTime": now, "lastProbeTime": None}


def pod_status(pod: client.V1Pod, phase: str, exit_code: int | None = None) -> dict:
    """The status a kubelet would report for `pod` in `phase` (Running = all containers ready)."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
    now = _now()
    running = phase == "Running"
    if exit_code is None:
        exit_code = 1 if phase == "Failed" else 0
    containers = []
    for container in pod.spec.containers:
        state = (
            {"running": {"startedAt": now}}
            if running
            else {
                "terminated": {
                    "exitCode": exit_code,
                    "reason": "Completed" if exit_code == 0 else "Error",
                    "startedAt": now,
                    "finishedAt": now,
                }
            }
        )
        containers.append(
            {
                "name": container.name,
                "image": container.image,
                "imageID": "",
                "ready": running,
                "restartCount": 0,
                "started": running,
                "state": state,
            }
        )
    return {
        "status": {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": now,
            "conditions": [
                _condition("Initialized", True, now),
                _condition("PodScheduled", True, now),
                _condition("ContainersReady", running, now),
                _condition("Ready", running, now),
            ],
            "containerStatuses": containers,
        }
    }


@dataclass
class Kubelet:
    """Plays the kubelet against one cluster through the official client.

    Every method is idempotent: marking a pod twice writes the same status again.
    """

    api: client.ApiClient

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def mark_pod(self, name: str, namespace: str, phase: str = "Running", exit_code: int | None = None) -> client.V1Pod:
        """Report pod `name` as Running (and Ready), Succeeded or Failed."""
        pod = self.core.read_namespaced_pod(name, namespace)
        return self.core.patch_namespaced_pod_status(name, namespace, pod_status(pod, phase, exit_code))

    def mark_pods(
        self, namespace: str, label_selector: str, phase: str = "Running", *, expect: int = 1, timeout: float = 30.0
    ) -> list[str]:
        """Wait until at least `expect` pods match `label_selector`, then mark them all; returns their names."""

        def pods():
            found = self.core.list_namespaced_pod(namespace, label_selector=label_selector).items
            return found if len(found) >= expect else None

        found = wait_for(pods, timeout, f"{expect} pod(s) matching {label_selector!r} in {namespace}")
        for pod in found:
            self.mark_pod(pod.metadata.name, namespace, phase)
        return [pod.metadata.name for pod in found]

    def make_deployment_available(self, name: str, namespace: str, timeout: float = 60.0) -> client.V1Deployment:
        """Mark the pods of Deployment `name` Running+Ready until the controllers report it Available.

        Loops because a rollout may replace pods (a new ReplicaSet) while we mark them.
        """
        apps = client.AppsV1Api(self.api)

        def available():
            deployment = apps.read_namespaced_deployment(name, namespace)
            selector = ",".join(f"{k}={v}" for k, v in (deployment.spec.selector.match_labels or {}).items())
            for pod in self.core.list_namespaced_pod(namespace, label_selector=selector).items:
                if pod.status.phase != "Running" and pod.metadata.deletion_timestamp is None:
                    self.mark_pod(pod.metadata.name, namespace, "Running")
            status = deployment.status
            done = (
                (status.observed_generation or 0) >= deployment.metadata.generation
                and (status.updated_replicas or 0) == deployment.spec.replicas
                and (status.available_replicas or 0) == deployment.spec.replicas
                and any(c.type == "Available" and c.status == "True" for c in status.conditions or [])
            )
            return deployment if done else None

        return wait_for(available, timeout, f"Deployment {namespace}/{name} to become Available", interval=0.2)

    def complete_job(self, name: str, namespace: str, succeed: bool = True, timeout: float = 60.0) -> client.V1Job:
        """Finish the pods of Job `name` (Succeeded, or Failed when `succeed` is False) until the
        Job controller sets the Complete (or Failed) condition. For a failing Job keep
        backoffLimit at 0, else the controller retries with back-off delays of 10 s and up."""
        batch = client.BatchV1Api(self.api)
        phase, wanted = ("Succeeded", "Complete") if succeed else ("Failed", "Failed")

        def finished():
            job = batch.read_namespaced_job(name, namespace)
            if any(c.type == wanted and c.status == "True" for c in job.status.conditions or []):
                return job
            selector = ",".join(f"{k}={v}" for k, v in (job.spec.selector.match_labels or {}).items())
            for pod in self.core.list_namespaced_pod(namespace, label_selector=selector).items:
                if pod.status.phase not in ("Succeeded", "Failed"):
                    self.mark_pod(pod.metadata.name, namespace, phase)
            return None

        return wait_for(finished, timeout, f"Job {namespace}/{name} to be {wanted}", interval=0.2)
