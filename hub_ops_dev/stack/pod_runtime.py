"""What a container runtime does before a container starts, done with local files and a
process instead of an image: the stand-in kubelet (process_kubelet.py) uses it.

- Images are not pulled: a `LocalImage` says which local programs stand for an image
  (directories put first on PATH, the image's ENTRYPOINT). Only images in the table run.
- Volumes: a persistentVolumeClaim is a local folder the caller names per claim (`claims`;
  readOnly is not enforced: the processes run as this user). configMap, secret and
  emptyDir are written under the pod's directory, at
  `<pod dir>/fs/<mountPath>`; an argument, env value or workingDir that names a path under
  a mountPath is rewritten to that local path, so `--config /etc/app/config.py` works.
- Env: value (with `$(VAR)` expansion), valueFrom fieldRef / secretKeyRef / configMapKeyRef,
  envFrom configMapRef / secretRef, as the kubelet resolves them. The process gets only
  that env plus PATH and HOME, never the test process's environment.
- Network: each pod gets its own loopback address (127.x.y.z, all of 127.0.0.0/8 is local
  on Linux), its podIP, so containers listen on their declared ports with no clash between
  pods and the EndpointSlice controller publishes podIP:containerPort as on a cluster.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client

BASE_PATH = "/usr/local/bin:/usr/bin:/bin"


class ContainerConfigError(RuntimeError):
    """The container cannot be created (the kubelet's CreateContainerConfigError): a missing
    Secret or key, an unsupported volume or field. The text names the pod and the object."""


@dataclass(frozen=True)
class LocalImage:
    """How an image runs on this machine: `path` holds its programs, `entrypoint` is its ENTRYPOINT."""

    path: tuple[str, ...]
    entrypoint: tuple[str, ...] = ()


def image_repository(image: str) -> str:
    """`quay.io/jupyterhub/k8s-hub:4.3.3` -> `quay.io/jupyterhub/k8s-hub` (tags and digests never matter here)."""
    name = image.split("@", 1)[0]
    head, _, tail = name.rpartition(":")
    return head if head and "/" not in tail else name


@dataclass
class ContainerPlan:
    """One container, ready to exec: argv resolved on PATH, env, cwd, its ports by name."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(repr=False)
    cwd: Path
    ports: dict[str, int]
    readiness: client.V1Probe | None
    log: Path


def _where(pod: client.V1Pod) -> str:
    return f"pod {pod.metadata.namespace}/{pod.metadata.name}"


def _secret_data(secret: client.V1Secret) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


class PodObjects:
    """Reads the ConfigMaps and Secrets a pod refers to, once each, with the kubelet's errors."""

    def __init__(self, core: client.CoreV1Api, pod: client.V1Pod):
        self.core, self.pod = core, pod
        self._cache: dict[tuple[str, str], dict[str, str] | None] = {}

    def data(self, kind: str, name: str, optional: bool = False) -> dict[str, str] | None:
        key = (kind, name)
        if key not in self._cache:
            ns = self.pod.metadata.namespace
            try:
                if kind == "Secret":
                    self._cache[key] = _secret_data(self.core.read_namespaced_secret(name, ns))
                else:
                    self._cache[key] = dict(self.core.read_namespaced_config_map(name, ns).data or {})
            except client.ApiException as e:
                if e.status != 404:
                    raise
                self._cache[key] = None
        found = self._cache[key]
        if found is None and not optional:
            raise ContainerConfigError(f"{_where(self.pod)}: {kind} {name!r} not found")
        return found

    def key(self, kind: str, name: str, key: str, optional: bool = False) -> str | None:
        data = self.data(kind, name, optional)
        if data is None:
            return None
        if key not in data:
            if optional:
                return None
            raise ContainerConfigError(f"{_where(self.pod)}: no key {key!r} in {kind} {name!r}")
        return data[key]


def _field(pod: client.V1Pod, path: str, pod_ip: str) -> str:
    meta = pod.metadata
    simple = {
        "metadata.name": meta.name,
        "metadata.namespace": meta.namespace,
        "metadata.uid": meta.uid,
        "spec.nodeName": pod.spec.node_name or "",
        "spec.serviceAccountName": pod.spec.service_account_name or "",
        "status.podIP": pod_ip,
        "status.hostIP": pod_ip,
    }
    if path in simple:
        return simple[path]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return ((meta.labels if match[1] == "labels" else meta.annotations) or {}).get(match[2], "")
    raise ContainerConfigError(f"{_where(pod)}: fieldRef {path!r} is not supported by the stand-in kubelet")


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion: a defined VAR is replaced, `$$` escapes, the rest stays."""
    pattern = r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)"
    return re.sub(pattern, lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), text)


def container_env(objects: PodObjects, container: client.V1Container, pod_ip: str) -> dict[str, str]:
    pod = objects.pod
    env: dict[str, str] = {}
    for source in container.env_from or []:
        ref, kind = (source.secret_ref, "Secret") if source.secret_ref else (source.config_map_ref, "ConfigMap")
        data = objects.data(kind, ref.name, bool(ref.optional)) or {}
        env.update({(source.prefix or "") + k: v for k, v in data.items()})
    for var in container.env or []:
        source = var.value_from
        if source is None:
            env[var.name] = _expand(var.value or "", env)
        elif source.field_ref:
            env[var.name] = _field(pod, source.field_ref.field_path, pod_ip)
        elif source.secret_key_ref or source.config_map_key_ref:
            ref = source.secret_key_ref or source.config_map_key_ref
            kind = "Secret" if source.secret_key_ref else "ConfigMap"
            value = objects.key(kind, ref.name, ref.key, bool(ref.optional))
            if value is not None:
                env[var.name] = value
        else:
            raise ContainerConfigError(f"{_where(pod)}: env {var.name}: unsupported valueFrom")
    return env


def write_volumes(objects: PodObjects, fs: Path, claims: Mapping[str, Path] | None = None) -> dict[str, Path]:
    """Each volume's files in its own directory under `fs` (a claim's: its folder in
    `claims`); returns volume name -> directory."""
    pod = objects.pod
    dirs: dict[str, Path] = {}
    for volume in pod.spec.volumes or []:
        claim = volume.persistent_volume_claim
        if claim is not None:
            if claim.claim_name not in (claims or {}):
                raise ContainerConfigError(
                    f"{_where(pod)}: no local folder for persistentVolumeClaim {claim.claim_name!r}"
                )
            dirs[volume.name] = Path(claims[claim.claim_name])
            continue
        target = fs.parent / "volumes" / volume.name
        target.mkdir(parents=True, exist_ok=True)
        if volume.config_map or volume.secret:
            source = volume.config_map or volume.secret
            kind, name = ("ConfigMap", source.name) if volume.config_map else ("Secret", source.secret_name)
            data = objects.data(kind, name, bool(source.optional)) or {}
            items = {i.key: i.path for i in source.items or []} or {k: k for k in data}
            for key, rel in items.items():
                if key not in data:
                    raise ContainerConfigError(f"{_where(pod)}: no key {key!r} in {kind} {name!r}")
                path = target / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(data[key])
                path.chmod(0o600 if kind == "Secret" else 0o644)
        elif volume.empty_dir is None:
            kinds = [k for k, v in volume.to_dict().items() if k != "name" and v is not None]
            raise ContainerConfigError(
                f"{_where(pod)}: volume {volume.name!r} of type {', '.join(kinds)} "
                "is not supported by the stand-in kubelet (configMap, secret, emptyDir, persistentVolumeClaim are)"
            )
        dirs[volume.name] = target
    return dirs


class PathMap:
    """Container paths -> local paths under the pod's `fs` (where each mountPath is a link to
    its volume), so files that find each other by relative path still do."""

    def __init__(self, fs: Path, mount_paths: list[str]):
        self.fs = fs
        self.mount_paths = mount_paths

    def local(self, container_path: str) -> Path:
        return self.fs / container_path.lstrip("/")

    def rewrite(self, text: str) -> str:
        """An argument or env value naming a path under a mountPath, in local terms."""
        for mount in self.mount_paths:
            if text == mount or text.startswith(mount.rstrip("/") + "/"):
                return str(self.local(text))
        return text


def plan_containers(
    core: client.CoreV1Api,
    pod: client.V1Pod,
    pod_ip: str,
    pod_dir: Path,
    image: Mapping[str, LocalImage],
    claims: Mapping[str, Path] | None = None,
) -> list[ContainerPlan]:
    """Files written, env resolved, argv built for each container of `pod` that `image`
    (container name -> LocalImage) names.
    Raises ContainerConfigError (the pod then waits, like CreateContainerConfigError)."""
    objects = PodObjects(core, pod)
    fs = pod_dir / "fs"
    volumes = write_volumes(objects, fs, claims)
    plans = []
    for container in pod.spec.containers:
        if container.name not in image:
            continue  # the caller stands in for it without a process
        local_image = image[container.name]
        paths = PathMap(fs, [m.mount_path for m in container.volume_mounts or []])
        for mount in container.volume_mounts or []:
            source = volumes[mount.name] / (mount.sub_path or "")
            link = paths.local(mount.mount_path)
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(source, target_is_directory=source.is_dir())
        env = container_env(objects, container, pod_ip)
        env = {k: paths.rewrite(v) for k, v in env.items()}
        command = list(container.command or local_image.entrypoint)
        argv = [paths.rewrite(_expand(a, env)) for a in [*command, *(container.args or [])]]
        if not argv:
            raise ContainerConfigError(f"{_where(pod)}: container {container.name} has no command")
        cwd = paths.local(container.working_dir) if container.working_dir else pod_dir / "work" / container.name
        cwd.mkdir(parents=True, exist_ok=True)
        search = os.pathsep.join([*local_image.path, BASE_PATH])
        full_env = {"PATH": search, "HOME": str(cwd), "LANG": "C.UTF-8", "HOSTNAME": pod.metadata.name, **env}
        plans.append(
            ContainerPlan(
                name=container.name,
                argv=argv,
                env=full_env,
                cwd=cwd,
                ports={p.name: p.container_port for p in container.ports or [] if p.name},
                readiness=container.readiness_probe,
                log=pod_dir / f"{container.name}.log",
            )
        )
    return plans
