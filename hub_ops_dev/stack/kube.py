"""A real Kubernetes control plane on loopback: etcd + kube-apiserver + kube-controller-manager.

No scheduler and no kubelet: pods stay Pending unless a test plays the kubelet
(see `hub_ops_dev.stack.kubelet`). Authentication is one bearer token, authorization
AlwaysAllow, the serving certificate comes from a CA generated per cluster, so the
kubeconfig verifies TLS like a real one. The controller-manager runs every default
controller: namespace deletion, Deployment -> ReplicaSet -> Pod, Job -> Pod,
service-account tokens, garbage collection.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from hub_ops_dev.stack.kube_build import KubeBinaries, ensure_kube_binaries
from hub_ops_dev.stack.process import ServerProcess, StackError, free_port, log_tail

SERVICE_CIDR = "10.96.0.0/24"
CONTEXT = "hub-ops-local"


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise StackError(f"openssl {args[0]} failed in {cwd}: {proc.stderr[-1500:]}")


def make_certificates(pki: Path) -> None:
    """A CA, a serving cert for 127.0.0.1/localhost signed by it, a service-account key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]  # EC: instant keygen
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3650",
        "-subj",
        "/CN=hub-ops-local-ca",
        cwd=pki,
    )
    _openssl(
        "req",
        *ec,
        "-keyout",
        "apiserver.key",
        "-out",
        "apiserver.csr",
        "-subj",
        "/CN=kube-apiserver",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc",
        cwd=pki,
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "apiserver.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "3650",
        "-copy_extensions",
        "copy",
        "-out",
        "apiserver.crt",
        cwd=pki,
    )
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key", cwd=pki)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


@dataclass
class KubeCluster:
    """One control plane with its own etcd, certs, token and ports, all under `workdir`.

    `start()` returns when /readyz answers and the controller-manager has created the
    `default` service account (proof that controllers run). `stop()` stops all three by
    process group; it is safe to call twice.
    """

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hub-ops-kube-")))
    binaries: KubeBinaries | None = None
    token: str = field(default_factory=lambda: secrets.token_hex(24), repr=False)
    api_port: int = 0
    etcd_port: int = 0
    processes: list[ServerProcess] = field(default_factory=list, repr=False)
    # a TokenReview webhook's kubeconfig (EKS-style tokens, see eks_webhook.py); RBAC then
    # decides what its users may do, and the controller-manager may be left out (faster)
    token_webhook: Path | None = None
    authorization_mode: str = "AlwaysAllow"
    controllers: bool = True

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    def start(self, timeout: float = 60.0) -> KubeCluster:
        bins = self.binaries or ensure_kube_binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        make_certificates(self.pki)
        self.api_port = self.api_port or free_port()
        self.etcd_port = self.etcd_port or free_port()
        try:
            self._start_etcd(timeout)
            self._start_apiserver(bins, timeout)
            self._write_kubeconfig()
            if self.controllers:
                self._start_controller_manager(bins, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_etcd(self, timeout: float) -> None:
        peer = free_port()
        etcd = ServerProcess(
            "etcd",
            [
                "etcd",
                "--name",
                "hub-ops",
                "--data-dir",
                str(self.workdir / "etcd"),
                "--unsafe-no-fsync",
                "--listen-client-urls",
                f"http://127.0.0.1:{self.etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{self.etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer}",
                "--initial-cluster",
                f"hub-ops=http://127.0.0.1:{peer}",
                "--logger",
                "zap",
                "--log-level",
                "warn",
            ],
            log=self.workdir / "etcd.log",
        ).start()
        self.processes.append(etcd)
        url = f"http://127.0.0.1:{self.etcd_port}/health"
        etcd.wait_ready(lambda: json.load(urllib.request.urlopen(url, timeout=1)).get("health") == "true", timeout)

    def _start_apiserver(self, bins: KubeBinaries, timeout: float) -> None:
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.token},hub-ops-admin,hub-ops-admin,"system:masters"\n')
        tokens.chmod(0o600)
        pki = self.pki
        apiserver = ServerProcess(
            "kube-apiserver",
            [
                str(bins.apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                "--insecure-port=0",  # 1.20 opens :8080 otherwise
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--token-auth-file={tokens}",
                f"--authorization-mode={self.authorization_mode}",
                *self._webhook_flags(),
                # no kubelet mounts service-account tokens here, and pods must be creatable
                # before the controller-manager has made the namespace's default service account
                "--disable-admission-plugins=ServiceAccount",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                "--profiling=false",
                "--logtostderr=true",
                "--v=0",
            ],
            log=self.workdir / "kube-apiserver.log",
        ).start()
        self.processes.append(apiserver)
        apiserver.wait_ready(lambda: self._get("/readyz") == "ok", timeout)

    def _webhook_flags(self) -> list[str]:
        if self.token_webhook is None:
            return []
        return [
            f"--authentication-token-webhook-config-file={self.token_webhook}",
            "--authentication-token-webhook-version=v1",
            "--authentication-token-webhook-cache-ttl=1s",  # tests see each token checked anew
        ]

    def start_controllers(self, timeout: float = 60.0) -> None:
        """Add the controller-manager to a cluster started without it (`controllers=False`),
        for tests that need Deployments to become Available there. Idempotent."""
        if not any(p.name == "kube-controller-manager" and p.running for p in self.processes):
            self._start_controller_manager(self.binaries or ensure_kube_binaries(), timeout)

    def _start_controller_manager(self, bins: KubeBinaries, timeout: float) -> None:
        pki = self.pki
        manager = ServerProcess(
            "kube-controller-manager",
            [
                str(bins.controller_manager),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--port=0",
                "--secure-port=0",
                "--controllers=*",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--use-service-account-credentials=false",
                "--logtostderr=true",
                "--v=0",
            ],
            log=self.workdir / "kube-controller-manager.log",
        ).start()
        self.processes.append(manager)

        def default_service_account() -> bool:
            return (
                json.loads(self._get("/api/v1/namespaces/default/serviceaccounts/default"))["kind"] == "ServiceAccount"
            )

        manager.wait_ready(default_service_account, timeout)

    def _ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.pki / "ca.crt"))

    def _get(self, path: str) -> str:
        request = urllib.request.Request(self.server_url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=2, context=self._ssl_context()) as response:
            return response.read().decode()

    def _write_kubeconfig(self) -> None:
        ca = base64.b64encode((self.pki / "ca.crt").read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": CONTEXT,
            "preferences": {},
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.server_url, "certificate-authority-data": ca}}],
            "users": [{"name": CONTEXT, "user": {"token": self.token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def api_client(self):
        """A fresh `kubernetes.client.ApiClient` for this cluster (the official client)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    @property
    def running(self) -> bool:
        return bool(self.processes) and all(p.running for p in self.processes)

    def logs(self, lines: int = 20) -> str:
        """The tail of each server's log, for error messages."""
        return "\n".join(f"--- {p.log}\n{log_tail(p.log, lines)}" for p in self.processes)

    def stop(self, remove: bool = False) -> None:
        """Stop controller-manager, apiserver, then etcd; with `remove`, delete workdir too. Idempotent."""
        for process in reversed(self.processes):
            process.stop()
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    """Poll `condition()` until it returns something truthy; raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
