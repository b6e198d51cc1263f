"""A stand-in kubelet that runs pods' containers as local processes.

It registers a Node, plays the scheduler for the namespaces it is given (binds their pods
to that Node), and for each bound pod does what a kubelet does, through the official
client: resolves env and volumes (pod_runtime.py), starts the containers whose image it can
run locally, reports the pod Running with its own loopback address as podIP, marks it Ready
only while its readinessProbe answers, restarts an exited container with a growing back-off
(CrashLoopBackOff in the status, restartCount up), and on deletion stops the processes
(SIGTERM, then SIGKILL after the grace period) before it confirms the deletion. The real
controllers do the rest: ReplicaSets count Ready pods, Deployments become Available, a
rollout deletes the old pods, and EndpointSlices carry podIP:containerPort for Services.

Pods mounting a persistentVolumeClaim named in `claims` see that local folder there.
Containers whose image is not in `images` get no process: with `others="ready"` they are
reported Running and Ready at once (the cheap stand-in for e.g. an ingress controller);
with `others="pull-error"` they wait in ErrImagePull, as on a node that cannot pull them.

Times are shortened for tests: probes every `probe_period` s at most, back-off from
`backoff` s doubling to `max_backoff` (a kubelet: 10 s to 5 min).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kubernetes import client

from hub_ops_dev.stack.pod_runtime import (
    ContainerConfigError,
    ContainerPlan,
    LocalImage,
    image_repository,
    plan_containers,
)

HOST_IP = "127.0.0.1"
# a /16 of loopback per Python process: pods of kubelets started one after another never reuse an address
_POD_NET = f"127.{100 + os.getpid() % 150}"
_next_pod = itertools.count()


def _pod_ip() -> str:
    n = next(_next_pod)
    return f"{_POD_NET}.{n // 254 % 256}.{n % 254 + 1}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Container:
    """One container of a pod: its process (None while waiting) and what the kubelet reports."""

    name: str
    image: str
    plan: ContainerPlan | None  # None: no process, reported ready (an image we stand in for)
    proc: subprocess.Popen | None = None
    started_at: str = ""
    restarts: int = 0
    last_exit: dict | None = None
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    next_start: float = 0.0
    ready: bool = False
    successes: int = 0
    failures: int = 0
    next_probe: float = 0.0
    done: bool = False  # exited under restartPolicy Never/OnFailure(0)


@dataclass
class LocalPod:
    uid: str
    namespace: str
    name: str
    ip: str
    dir: Path
    restart_policy: str
    containers: list[Container] = field(default_factory=list)
    error: str = ""
    reported: tuple | None = None
    grace: float = 10.0


class ProcessKubelet:
    """Runs the pods of namespaces for which `namespaces(name)` is true. Use as a context manager."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespaces: Callable[[str], bool],
        workdir: Path,
        images: Mapping[str, LocalImage],
        *,
        others: str = "ready",
        claims: Mapping[str, Path] | None = None,
        interval: float = 0.2,
        probe_period: float = 0.5,
        backoff: float = 1.0,
        max_backoff: float = 10.0,
        max_grace: float = 15.0,
    ):
        if others not in ("ready", "pull-error"):
            raise ValueError(f"others must be 'ready' or 'pull-error', not {others!r}")
        self.core = client.CoreV1Api(api_client)
        self.namespaces, self.workdir, self.others = namespaces, Path(workdir), others
        self.images = {image_repository(k): v for k, v in images.items()}
        self.claims = dict(claims or {})  # PVC name -> the local folder standing in for its volume
        self.interval, self.probe_period = interval, probe_period
        self.backoff, self.max_backoff, self.max_grace = backoff, max_backoff, max_grace
        self.node = f"hub-ops-kubelet-{uuid.uuid4().hex[:6]}"
        self.pods: dict[str, LocalPod] = {}
        self.errors: list[str] = []  # the loop's own failures, newest last (for a test's message)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=self.node, daemon=True)
        self._heartbeat = 0.0

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> ProcessKubelet:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> ProcessKubelet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=self.node)))
        self._report_node()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop every process, remove this node's pods (their controllers make Pending ones
        that nobody runs) and the Node."""
        self._stop.set()
        self._thread.join(timeout=30)
        with self._lock:
            for local in list(self.pods.values()):
                self._kill(local)
                self._confirm_deletion(local)
            self.pods.clear()
        try:
            self.core.delete_node(self.node)
        except client.ApiException as e:
            if e.status != 404:
                raise

    # ------------------------------------------------------------ for tests

    def pod(self, namespace: str, name_prefix: str) -> LocalPod | None:
        """The live local pod in `namespace` whose name starts with `name_prefix`."""
        with self._lock:
            found = [p for p in self.pods.values() if p.namespace == namespace and p.name.startswith(name_prefix)]
        return found[-1] if found else None

    def logs(self, namespace: str, tail: int | None = 4000) -> str:
        """The container logs of every pod this kubelet ran in `namespace`, each cut to its
        last `tail` characters (None: whole)."""
        texts = []
        for log in sorted(self.workdir.glob(f"{namespace}_*/*.log")):
            text = log.read_text(errors="replace")
            texts.append(f"--- {log.parent.name}/{log.name}\n" + (text[-tail:] if tail else text))
        return "\n".join(texts) or f"(no container ran in {namespace})"

    # ------------------------------------------------------------ the loop

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    self._sync()
            except Exception as e:  # the apiserver between tests, a namespace being deleted: try again
                self.errors = [*self.errors[-20:], f"{type(e).__name__}: {e}"]
            self._stop.wait(self.interval)

    def _sync(self) -> None:
        if time.monotonic() > self._heartbeat:
            self._report_node()
        seen = set()
        for pod in self.core.list_pod_for_all_namespaces().items:
            meta = pod.metadata
            if not self.namespaces(meta.namespace):
                continue
            if not pod.spec.node_name:
                if meta.deletion_timestamp is None:
                    self._bind(pod)
                continue
            if pod.spec.node_name != self.node:
                continue
            seen.add(meta.uid)
            try:
                self._sync_pod(pod)
            except client.ApiException as e:  # this pod only: the others still get their turn
                self.errors = [*self.errors[-20:], f"{meta.namespace}/{meta.name}: {e.status} {e.reason}"]
        for uid in [u for u in self.pods if u not in seen]:  # deleted without us (force, namespace gone)
            self._kill(self.pods.pop(uid))

    def _sync_pod(self, pod: client.V1Pod) -> None:
        uid = pod.metadata.uid
        local = self.pods.get(uid)
        if pod.metadata.deletion_timestamp is not None:
            if local:
                self._kill(self.pods.pop(uid))
            self._confirm_deletion(local or self._admit(pod))
            return
        if local is None:
            local = self.pods[uid] = self._admit(pod)
        self._step(pod, local)

    def _bind(self, pod: client.V1Pod) -> None:
        """The scheduler's part: bind the pod to this node."""
        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=pod.metadata.name),
            target=client.V1ObjectReference(api_version="v1", kind="Node", name=self.node),
        )
        try:
            # _preload_content=False: the client cannot read back the Status this call returns
            self.core.create_namespaced_pod_binding(
                pod.metadata.name, pod.metadata.namespace, body, _preload_content=False
            )
        except client.ApiException as e:
            if e.status not in (404, 409):
                raise

    def _admit(self, pod: client.V1Pod, plan: bool = True) -> LocalPod:
        meta = pod.metadata
        local = LocalPod(
            meta.uid,
            meta.namespace,
            meta.name,
            _pod_ip(),
            self.workdir / f"{meta.namespace}_{meta.name}_{meta.uid[:8]}",
            pod.spec.restart_policy or "Always",
            grace=min(float(pod.spec.termination_grace_period_seconds or 30), self.max_grace),
        )
        local.containers = [Container(c.name, c.image, plan=None) for c in pod.spec.containers]
        return local

    def _images_of(self, pod: client.V1Pod) -> dict[str, LocalImage]:
        return {
            c.name: self.images[image_repository(c.image)]
            for c in pod.spec.containers
            if image_repository(c.image) in self.images
        }

    def _step(self, pod: client.V1Pod, local: LocalPod) -> None:
        images = self._images_of(pod)
        runnable = [c for c in local.containers if c.name in images]
        if runnable and runnable[0].plan is None and time.monotonic() >= runnable[0].next_start:
            try:
                plans = {p.name: p for p in plan_containers(self.core, pod, local.ip, local.dir, images, self.claims)}
                for c in runnable:
                    c.plan = plans[c.name]
                local.error = ""
            except ContainerConfigError as e:
                local.error = str(e)
                for c in runnable:
                    c.waiting, c.next_start = ("CreateContainerConfigError", str(e)), time.monotonic() + 1.0
        for c in local.containers:
            if c.name not in images:
                if self.others == "ready":
                    c.waiting, c.ready, c.started_at = None, True, c.started_at or _now()
                else:
                    c.waiting = ("ErrImagePull", f"image {c.image} has no local stand-in")
            elif c.plan is not None:
                self._run(local, c)
        self._report(pod, local)

    def _run(self, local: LocalPod, c: Container) -> None:
        now = time.monotonic()
        if c.proc is not None and c.proc.poll() is not None:
            code = c.proc.returncode
            c.last_exit = {
                "exitCode": code if code >= 0 else 128 - code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": c.started_at,
                "finishedAt": _now(),
            }
            c.proc, c.ready, c.successes, c.failures = None, False, 0, 0
            restart = local.restart_policy == "Always" or (local.restart_policy == "OnFailure" and code != 0)
            if not restart:
                c.done, c.waiting = True, None
                return
            delay = min(self.backoff * 2**c.restarts, self.max_backoff)
            c.restarts += 1
            c.next_start = now + delay
            message = f"back-off {delay:g}s restarting failed container={c.name} pod={local.name}"
            c.waiting = ("CrashLoopBackOff", message)
        if c.proc is None and not c.done and now >= c.next_start:
            self._start(local, c)
        if c.proc is not None and now >= c.next_probe:
            self._probe(local, c)

    def _start(self, local: LocalPod, c: Container) -> None:
        plan = c.plan
        argv0 = shutil.which(plan.argv[0], path=plan.env["PATH"]) or plan.argv[0]
        c.started_at = _now()
        try:
            with open(plan.log, "ab") as log:
                log.write(f"--- start {' '.join(plan.argv)} ({c.started_at})\n".encode())
                log.flush()
                c.proc = subprocess.Popen(
                    [argv0, *plan.argv[1:]],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=plan.env,
                    cwd=plan.cwd,
                    start_new_session=True,
                )
        except OSError as e:  # not on PATH, not executable: a runtime's StartError
            c.restarts += 1
            c.next_start = time.monotonic() + min(self.backoff * 2**c.restarts, self.max_backoff)
            c.waiting = ("CrashLoopBackOff", f"StartError: {plan.argv[0]}: {e.strerror}")
            return
        c.waiting = None
        probe = plan.readiness
        c.next_probe = time.monotonic() + float(probe.initial_delay_seconds or 0) if probe else 0.0

    def _probe(self, local: LocalPod, c: Container) -> None:
        probe = c.plan.readiness
        if probe is None:
            c.ready = True
            return
        period = min(float(probe.period_seconds or 10), self.probe_period)
        c.next_probe = time.monotonic() + period
        if probe_once(probe, local.ip, c.plan.ports):
            c.successes, c.failures = c.successes + 1, 0
            c.ready = c.ready or c.successes >= (probe.success_threshold or 1)
        else:
            c.successes, c.failures = 0, c.failures + 1
            c.ready = c.ready and c.failures < (probe.failure_threshold or 3)

    # ------------------------------------------------------------ status

    def _report(self, pod: client.V1Pod, local: LocalPod) -> None:
        containers = [self._container_status(c) for c in local.containers]
        started = all(c.proc is not None or c.plan is None and c.waiting is None for c in local.containers)
        finished = all(c.done for c in local.containers if c.plan is not None) and any(
            c.plan is not None for c in local.containers
        )
        ready = started and all(c.ready for c in local.containers)
        if finished:
            phase = "Succeeded" if all((c.last_exit or {}).get("exitCode") == 0 for c in local.containers) else "Failed"
        else:
            phase = "Running" if started or any(c.restarts for c in local.containers) else "Pending"
        signature = (phase, ready, tuple((s["ready"], s["restartCount"], str(s["state"].keys())) for s in containers))
        signature += tuple(c.waiting for c in local.containers)
        if signature == local.reported:
            return
        now = _now()
        status = {
            "phase": phase,
            "hostIP": HOST_IP,
            "podIP": local.ip,
            "podIPs": [{"ip": local.ip}],
            "startTime": pod.status.start_time.strftime("%Y-%m-%dT%H:%M:%SZ") if pod.status.start_time else now,
            "conditions": [
                _condition("Initialized", True, now),
                _condition("PodScheduled", True, now),
                _condition("ContainersReady", ready, now),
                _condition("Ready", ready, now),
            ],
            "containerStatuses": containers,
        }
        # the uid makes the patch fail (409) if the name now belongs to a newer pod
        self.core.patch_namespaced_pod_status(
            local.name, local.namespace, {"metadata": {"uid": local.uid}, "status": status}
        )
        local.reported = signature

    def _container_status(self, c: Container) -> dict:
        if c.waiting is not None:
            state = {"waiting": {"reason": c.waiting[0], "message": c.waiting[1]}, "running": None, "terminated": None}
        elif c.done:
            state = {"terminated": c.last_exit, "running": None, "waiting": None}
        else:
            state = {"running": {"startedAt": c.started_at}, "waiting": None, "terminated": None}
        return {
            "name": c.name,
            "image": c.image,
            "imageID": "",
            "ready": c.ready and c.waiting is None,
            "restartCount": c.restarts,
            "started": "running" in [k for k, v in state.items() if v],
            "state": state,
            "lastState": {"terminated": c.last_exit} if c.last_exit else {},
        }

    def _report_node(self) -> None:
        now = _now()
        status = {
            "addresses": [{"type": "InternalIP", "address": HOST_IP}, {"type": "Hostname", "address": self.node}],
            "nodeInfo": {
                "kubeletVersion": "v1.20.2-hub-ops",
                "kubeProxyVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": os.uname().release,
                "osImage": "local processes",
                "containerRuntimeVersion": "process://1",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "stand-in kubelet running pods as local processes",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
        }
        self.core.patch_node_status(self.node, {"status": status})
        self._heartbeat = time.monotonic() + 10  # the node controller's grace period is 40 s

    # ------------------------------------------------------------ teardown of one pod

    def _kill(self, local: LocalPod) -> None:
        """SIGTERM each container's process group, SIGKILL it after the pod's grace period."""
        procs = [c.proc for c in local.containers if c.proc is not None]
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + local.grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        for c in local.containers:
            c.proc = None

    def _confirm_deletion(self, local: LocalPod) -> None:
        """What a kubelet does once a deleted pod's containers are gone: delete it for good."""
        try:
            self.core.delete_namespaced_pod(
                local.name,
                local.namespace,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=local.uid)
                ),
            )
        except client.ApiException as e:
            if e.status not in (404, 409):
                raise


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _condition(kind: str, status: bool, now: str) -> dict:
    return {"type": kind, "status": "True" if status else "False", "lastTransitionTime": now, "lastProbeTime": None}


def probe_once(probe: client.V1Probe, pod_ip: str, ports: Mapping[str, int]) -> bool:
    """One readiness check, as the kubelet makes it: httpGet (2xx/3xx), tcpSocket (connects)."""
    timeout = float(probe.timeout_seconds or 1)
    check = probe.http_get or probe.tcp_socket
    if check is None:
        return False  # exec probes are not run by the stand-in: never ready, visibly
    port = check.port if isinstance(check.port, int) else ports.get(check.port, check.port)
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if not isinstance(port, int):
        return False
    host = check.host or pod_ip
    if probe.tcp_socket:
        with socket.socket() as s:
            s.settimeout(timeout)
            return s.connect_ex((host, port)) == 0
    url = f"{(check.scheme or 'HTTP').lower()}://{host}:{port}{check.path or '/'}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 400
    except urllib.error.HTTPError as e:
        return 200 <= e.code < 400
    except (OSError, ValueError):
        return False
