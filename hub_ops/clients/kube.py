"""The Kubernetes API of a cluster, through the official `kubernetes` client.

ClusterAccess says how to reach a cluster (a kubeconfig file, or server + token + CA as GKE
and sops-encrypted kubeconfigs give them: the token stays in memory). A token with an end of
life comes from a TokenSource, asked again before the token expires (RefreshingToken), so a
step longer than a token's life keeps working whatever the provider. KubeClient holds the
few operations hub_ops needs, each named for what it does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ClusterUnreachable(RuntimeError):
    """The cluster's API cannot be reached (or no way to reach it is configured)."""


class NotReady(RuntimeError):
    """A workload did not become ready in time; the message says what Kubernetes reported."""


# () -> (bearer token, when it expires; None: never). Any provider: GKE credentials, an
# EKS presigned URL, a token broker. Called again whenever the last token nears its end.
TokenSource = Callable[[], tuple[str, "dt.datetime | None"]]


class RefreshingToken:
    """The current token of a TokenSource. The source is asked again once less than
    min(`margin` s, a quarter of the token's life) is left, or after `invalidate()` (the API
    refused the token), so a token is never used past its expiry. Thread-safe."""

    def __init__(self, source: TokenSource, margin: float = 60.0):
        self.source, self.margin = source, margin
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at: dt.datetime | None = None

    def get(self) -> str:
        with self._lock:
            now = dt.datetime.now(dt.UTC)
            if self._token is None or (self._renew_at is not None and now >= self._renew_at):
                self._token, self._renew_at = self._ask(now)
            return self._token

    def _ask(self, now: dt.datetime) -> tuple[str, dt.datetime | None]:
        try:
            token, expiry = self.source()
        except Exception as e:  # noqa: BLE001 - any provider failure means: cannot reach the API
            raise ClusterUnreachable(f"no cluster token: the token provider failed: {type(e).__name__}: {e}") from None
        if not token:
            raise ClusterUnreachable("no cluster token: the token provider returned none")
        if expiry is None:
            return token, None
        expiry = expiry if expiry.tzinfo else expiry.replace(tzinfo=dt.UTC)  # naive = UTC (google-auth)
        life = (expiry - now).total_seconds()
        if life <= 0:
            raise ClusterUnreachable(f"no cluster token: the token provider returned one that expired at {expiry}")
        return token, expiry - dt.timedelta(seconds=min(self.margin, life / 4))

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


@dataclass(frozen=True)
class ClusterAccess:
    kubeconfig_path: str | None = None
    context: str | None = None
    server: str | None = None
    token: str | None = field(default=None, repr=False)  # a token that does not expire
    ca_pem: str | None = None
    insecure: bool = False
    tokens: RefreshingToken | None = field(default=None, repr=False, compare=False)  # one that does
    client_cert_pem: str | None = None  # a client-certificate user (public, like the CA)
    client_key_pem: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        return self.server or f"kubeconfig {self.kubeconfig_path}"

    def bearer_token(self) -> str | None:
        """The token to send now (asks the token source again when the last one nears expiry)."""
        return self.tokens.get() if self.tokens is not None else self.token

    def invalidate_token(self) -> None:
        """The API refused the token: the next request asks the token source for a new one."""
        if self.tokens is not None:
            self.tokens.invalidate()

    def api_client(self):
        from kubernetes import client, config

        if self.kubeconfig_path:
            return config.new_client_from_config(config_file=self.kubeconfig_path, context=self.context)
        configuration = kube_configuration(self.server, self.ca_pem, self.bearer_token(), insecure=self.insecure)
        if self.tokens is not None:
            tokens = self.tokens

            def refresh(c) -> None:  # the client calls this before every request
                c.api_key.update(dict.fromkeys(BEARER_KEYS, tokens.get()))

            configuration.refresh_api_key_hook = refresh
        api = client.ApiClient(configuration)
        if self.client_cert_pem and self.client_key_pem:
            _present_client_certificate(api, configuration, self.client_cert_pem, self.client_key_pem)
        return api

    def helm_options(self) -> dict[str, Any]:
        """Keyword arguments for helm_python.Config reaching the same API (with the token of
        now: HelmClient builds a new Config when the token changes)."""
        if self.kubeconfig_path:
            return {"kubeconfig_path": self.kubeconfig_path, "kube_context": self.context}
        if self.client_key_pem:
            # helm-python-sdk takes a client key only inside a kubeconfig: it keeps that in a
            # private temporary file of its own until the helm Config is closed
            return {"kubeconfig_content": self._kubeconfig_text()}
        opts: dict[str, Any] = {
            "kube_apiserver": self.server,
            "kube_token": self.bearer_token(),
            "kube_insecure_skip_tls_verify": self.insecure,
        }
        if self.ca_pem:
            opts["kube_ca_file"] = ca_file(self.ca_pem)
        return opts

    def _kubeconfig_text(self) -> str:
        import base64

        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        cluster: dict[str, Any] = {"server": self.server, "insecure-skip-tls-verify": self.insecure}
        if self.ca_pem:
            cluster["certificate-authority-data"] = b64(self.ca_pem)
        user = {
            "client-certificate-data": b64(self.client_cert_pem or ""),
            "client-key-data": b64(self.client_key_pem or ""),
        }
        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )


def _present_client_certificate(api, configuration, cert_pem: str, key_pem: str) -> None:
    """Make `api` present a client certificate whose key stays in memory. Python's ssl loads
    a key only from a file, and the kubernetes client would re-read its files on every new
    connection: instead the pair is loaded once into an SSLContext, from files in a private
    0700 temp dir (0600 each) that are deleted before this returns, and the client's pool
    uses that context."""
    import ssl

    import urllib3

    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with tempfile.TemporaryDirectory(prefix="hub_ops-client-cert-") as folder:  # mode 0700
        cert, key = Path(folder) / "client.crt", Path(folder) / "client.key"
        for path, text in ((cert, cert_pem), (key, key_pem)):
            path.touch(mode=0o600)
            path.write_text(text)
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError:
            raise ClusterUnreachable("the kubeconfig's client certificate and key do not load as a pair") from None
    api.rest_client.pool_manager = urllib3.PoolManager(
        num_pools=4, maxsize=configuration.connection_pool_maxsize or 4, ssl_context=context
    )


# the kubernetes client names the bearer token "BearerToken" from v36, "authorization" before
BEARER_KEYS = ("BearerToken", "authorization")


def ca_file(pem: str | bytes) -> str:
    """A file holding the CA certificate `pem` (clients want a path), named by its digest
    under the temp dir: writing the same CA again is a no-op. A CA is public, not a secret."""
    data = pem.encode() if isinstance(pem, str) else pem
    folder = Path(tempfile.gettempdir()) / "hub_ops-cluster-ca"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.crt"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)


def kube_configuration(server: str, ca_pem: str | bytes | None, token: str | None, *, insecure: bool = False):
    """A kubernetes client Configuration for an API server at `server` (https:// added when
    missing), trusting `ca_pem`, authenticating with a bearer `token` held only in memory."""
    from kubernetes import client

    config = client.Configuration()
    config.host = server if server.startswith("https://") else f"https://{server}"
    config.verify_ssl = not insecure
    if ca_pem:
        config.ssl_ca_cert = ca_file(ca_pem)
    if token:
        config.api_key = dict.fromkeys(BEARER_KEYS, token)
        config.api_key_prefix = dict.fromkeys(BEARER_KEYS, "Bearer")
    return config


def kubeconfig_context(doc: dict, context: str | None = None, source: str = "kubeconfig") -> tuple[dict, dict]:
    """(cluster, user) of a kubeconfig document's context (the current one by default)."""
    try:
        ctx_name = context or doc["current-context"]
        ctx = next(c["context"] for c in doc["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in doc["users"] if u["name"] == ctx["user"])
    except (KeyError, StopIteration, TypeError):
        raise ClusterUnreachable(f"{source}: no usable context {context or '(current-context)'}") from None
    if not isinstance(cluster, dict) or not isinstance(user, dict) or not cluster.get("server"):
        raise ClusterUnreachable(f"{source}: context {ctx_name} has no server or no user")
    return cluster, user


def kubeconfig_ca(cluster: dict) -> str | None:
    """The PEM CA of a kubeconfig cluster entry (certificate-authority-data), if any."""
    import base64

    data = cluster.get("certificate-authority-data")
    return base64.b64decode(data).decode() if data else None


def access_from_kubeconfig_doc(doc: dict, context: str | None = None, source: str = "kubeconfig") -> ClusterAccess:
    """Server, token and CA of a (decrypted) kubeconfig document's context."""
    import base64

    cluster, user = kubeconfig_context(doc, context, source)
    ca = kubeconfig_ca(cluster)
    insecure = bool(cluster.get("insecure-skip-tls-verify"))
    if "token" in user:
        return ClusterAccess(server=cluster["server"], token=user["token"], ca_pem=ca, insecure=insecure)
    if "client-certificate-data" in user and "client-key-data" in user:
        return ClusterAccess(
            server=cluster["server"],
            ca_pem=ca,
            insecure=insecure,
            client_cert_pem=base64.b64decode(user["client-certificate-data"]).decode(),
            client_key_pem=base64.b64decode(user["client-key-data"]).decode(),
        )
    ctx_name = context or doc["current-context"]
    user_name = next(c["context"]["user"] for c in doc["contexts"] if c["name"] == ctx_name)
    raise ClusterUnreachable(
        f"{source}: user {user_name!r} has neither token nor client-certificate-data + client-key-data "
        f"(context {ctx_name}); exec plugins and certificate files are not supported"
    )


class KubeClient:
    """Operations on one cluster. Every method is safe to call again after a failure."""

    def __init__(self, access: ClusterAccess, name: str = ""):
        self.access = access
        self.name = name or access.describe()
        self._api = None

    @property
    def api(self):
        if self._api is None:
            self._api = self.access.api_client()
        return self._api

    def _call(self, fn: Callable, *args, **kwargs):
        import urllib3
        from kubernetes.client.exceptions import ApiException

        try:
            return fn(*args, _request_timeout=(5, 30), **kwargs)
        except urllib3.exceptions.HTTPError as e:
            raise ClusterUnreachable(
                f"cluster {self.name}: API not reachable: {type(e).__name__}: {_short(e)}"
            ) from None
        except ApiException as e:
            if e.status == 401:  # revoked or expired: the next call asks the token source again
                self.access.invalidate_token()
            if e.status in (502, 503, 504):
                raise ClusterUnreachable(f"cluster {self.name}: API answered {e.status} {e.reason}") from None
            raise

    def server_version(self) -> str:
        from kubernetes import client

        info = self._call(client.VersionApi(self.api).get_code)
        return info.git_version

    def namespace_exists(self, namespace: str) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            self._call(client.CoreV1Api(self.api).read_namespace, namespace)
            return True
        except ApiException as e:
            if e.status == 404:
                return False
            raise

    def ensure_namespace(self, namespace: str) -> None:
        """Create `namespace` if it does not exist (a 409 from a concurrent creator is fine)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        if self.namespace_exists(namespace):
            return
        try:
            self._call(
                client.CoreV1Api(self.api).create_namespace,
                client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)),
            )
        except ApiException as e:
            if e.status != 409:
                raise

    def delete_namespace(self, namespace: str, timeout: float = 300, poll: float = 1.0) -> bool:
        """Delete `namespace` and wait until it is gone. Returns False if it was already gone."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        core = client.CoreV1Api(self.api)
        try:
            self._call(core.delete_namespace, namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            return False
        deadline = time.monotonic() + timeout
        while self.namespace_exists(namespace):
            if time.monotonic() > deadline:
                raise NotReady(f"namespace {namespace} still terminating after {timeout:.0f} s")
            time.sleep(poll)
        return True

    def deployment_state(self, namespace: str, name: str) -> tuple[bool, str]:
        """(available, what Kubernetes says) for a Deployment's current generation."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            dep = self._call(client.AppsV1Api(self.api).read_namespaced_deployment, name, namespace)
        except ApiException as e:
            if e.status == 404:
                return False, f"deployment {namespace}/{name} not found"
            raise
        st = dep.status
        want = dep.spec.replicas if dep.spec.replicas is not None else 1
        conditions = {c.type: c for c in (st.conditions or [])}
        progressing = conditions.get("Progressing")
        if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
            return False, f"deployment {namespace}/{name}: {progressing.message}"
        if (st.observed_generation or 0) < (dep.metadata.generation or 0):
            return False, f"deployment {namespace}/{name}: new spec not yet observed"
        if (st.updated_replicas or 0) < want:
            return False, f"deployment {namespace}/{name}: {st.updated_replicas or 0}/{want} replicas updated"
        if (st.available_replicas or 0) < want:
            avail = conditions.get("Available")
            why = f" ({avail.message})" if avail is not None and avail.message else ""
            return False, f"deployment {namespace}/{name}: {st.available_replicas or 0}/{want} replicas available{why}"
        return True, f"deployment {namespace}/{name}: {want}/{want} available"

    def wait_deployment_available(self, namespace: str, name: str, timeout: float, poll: float = 1.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            ok, state = self.deployment_state(namespace, name)
            if ok:
                return state
            if time.monotonic() > deadline:
                raise NotReady(f"not ready after {timeout:.0f} s: {state}")
            time.sleep(poll)

    def pods(self, namespace: str, selector: str = "") -> list:
        from kubernetes import client

        return self._call(client.CoreV1Api(self.api).list_namespaced_pod, namespace, label_selector=selector).items

    # ------------------------------------------------------------ jobs

    def run_job(
        self, namespace: str, job, timeout: float, poll: float = 2.0, on_start: Callable[[str], None] | None = None
    ) -> str:
        """Create Job `job` (a kubernetes V1Job) in `namespace` and wait until the Job
        controller reports it Complete. Returns the tail of its pod's log ("" when the
        kubelet cannot serve logs). Raises NotReady with the pods' states when it fails or
        times out, after deleting the Job and its pods (a rerun starts clean). Idempotent
        for a given job name: an existing Job of that name is waited for, not recreated."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        batch, core = client.BatchV1Api(self.api), client.CoreV1Api(self.api)
        name = job.metadata.name
        try:
            self._call(batch.create_namespaced_job, namespace, job)
        except ApiException as e:
            if e.status != 409:
                raise
        if on_start:
            on_start(name)
        deadline = time.monotonic() + timeout
        selector = f"job-name={name}"
        while True:
            status = self._call(batch.read_namespaced_job_status, name, namespace).status
            conditions = {c.type: c for c in status.conditions or [] if c.status == "True"}
            if "Complete" in conditions:
                return self._log_tail(core, namespace, selector)
            if "Failed" in conditions or time.monotonic() > deadline:
                why = conditions["Failed"].message if "Failed" in conditions else f"not finished after {timeout:.0f} s"
                pods = self._call(core.list_namespaced_pod, namespace, label_selector=selector).items
                states = (
                    "; ".join(
                        f"{p.metadata.name}: {p.status.phase}" + (f" ({p.status.message})" if p.status.message else "")
                        for p in pods
                    )
                    or "no pod"
                )
                tail = self._log_tail(core, namespace, selector)
                self._call(batch.delete_namespaced_job, name, namespace, propagation_policy="Background")
                raise NotReady(f"job {namespace}/{name} failed: {why}; pods: {states}" + (f"\n{tail}" if tail else ""))
            time.sleep(poll)

    def run_jobs(
        self,
        namespace: str,
        jobs: list,
        timeout: float,
        poll: float = 2.0,
        on_start: Callable[[str], None] | None = None,
    ) -> dict[str, str | Exception]:
        """Run `jobs` side by side (`run_job` each, in a thread of its own) and wait for every
        one, also after one has failed, so none is left running unobserved. Returns Job name
        -> its log tail, or the exception saying why it failed (a failed Job is deleted, as
        by run_job). Raises nothing for a failed Job: the caller decides what that means."""
        from concurrent.futures import ThreadPoolExecutor

        def one(job) -> str | Exception:
            try:
                return self.run_job(namespace, job, timeout, poll, on_start)
            except Exception as e:  # NotReady, ClusterUnreachable, an API error: reported per Job
                return e

        with ThreadPoolExecutor(max_workers=max(1, len(jobs)), thread_name_prefix="job") as pool:
            results = list(pool.map(one, jobs))
        return {job.metadata.name: result for job, result in zip(jobs, results, strict=True)}

    def _log_tail(self, core, namespace: str, selector: str, lines: int = 40) -> str:
        from kubernetes.client.exceptions import ApiException

        try:
            pods = self._call(core.list_namespaced_pod, namespace, label_selector=selector).items
            if not pods:
                return ""
            return self._call(core.read_namespaced_pod_log, pods[0].metadata.name, namespace, tail_lines=lines)
        except (ApiException, ClusterUnreachable):  # no kubelet to ask, or it is gone
            return ""

    # ------------------------------------------------------------ leases

    def acquire_lease(self, namespace: str, name: str, holder: str, ttl_seconds: int = 1800) -> bool:
        """Take a coordination.k8s.io Lease, or renew it if `holder` has it. False if held by
        another holder and not expired. The API's optimistic concurrency (409 on a stale
        resourceVersion) makes two takers race safely."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        coord = client.CoordinationV1Api(self.api)
        now = dt.datetime.now(dt.UTC)
        spec = client.V1LeaseSpec(
            holder_identity=holder, lease_duration_seconds=ttl_seconds, acquire_time=now, renew_time=now
        )
        try:
            lease = self._call(coord.read_namespaced_lease, name, namespace)
        except ApiException as e:
            if e.status != 404:
                raise
            try:
                self._call(
                    coord.create_namespaced_lease,
                    namespace,
                    client.V1Lease(metadata=client.V1ObjectMeta(name=name), spec=spec),
                )
                return True
            except ApiException as e2:
                if e2.status == 409:  # another taker created it first
                    return False
                raise
        current = lease.spec
        expired = current.renew_time is None or (
            current.renew_time + dt.timedelta(seconds=current.lease_duration_seconds or 0) < now
        )
        if current.holder_identity not in (None, "", holder) and not expired:
            return False
        lease.spec = spec
        try:
            self._call(coord.replace_namespaced_lease, name, namespace, lease)  # carries resourceVersion
            return True
        except ApiException as e:
            if e.status == 409:
                return False
            raise

    def lease_holder(self, namespace: str, name: str) -> str | None:
        """Who holds the Lease now (None: nobody, or it expired)."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            spec = self._call(client.CoordinationV1Api(self.api).read_namespaced_lease, name, namespace).spec
        except ApiException as e:
            if e.status == 404:
                return None
            raise
        now = dt.datetime.now(dt.UTC)
        if spec.renew_time is None or spec.renew_time + dt.timedelta(seconds=spec.lease_duration_seconds or 0) < now:
            return None
        return spec.holder_identity or None

    def release_lease(self, namespace: str, name: str, holder: str) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        coord = client.CoordinationV1Api(self.api)
        try:
            lease = self._call(coord.read_namespaced_lease, name, namespace)
            if lease.spec.holder_identity == holder:
                self._call(
                    coord.delete_namespaced_lease,
                    name,
                    namespace,
                    body=client.V1DeleteOptions(
                        preconditions=client.V1Preconditions(resource_version=lease.metadata.resource_version)
                    ),
                )
        except ApiException as e:
            if e.status not in (404, 409):
                raise


def _short(e: Exception) -> str:
    text = str(e)
    return text if len(text) < 200 else text[:200] + "..."


def local_kubeconfig(path: str | None, fleet_root: Path) -> str | None:
    if not path:
        return None
    expanded = Path(os.path.expandvars(os.path.expanduser(path)))
    return str(expanded if expanded.is_absolute() else (fleet_root / expanded))


def load_kubeconfig_doc(text: bytes | str) -> dict:
    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise ClusterUnreachable("kubeconfig is not a mapping")
    return doc
