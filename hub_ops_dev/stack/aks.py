"""What Azure runs around an AKS cluster, on loopback over HTTPS, for the local stack's "azure"
clusters (nothing offline emulates ARM or Entra ID):

- Entra ID (AAD), the part the Azure SDK's credentials use: a tenant's OpenID configuration
  and its v2.0 token endpoint, client-credentials grant with a client secret (a service
  principal) or a federated client assertion (workload identity). Tokens are JWTs signed by
  this server, for the audience the `scope` names (`<app>/.default`).
- ARM, the four AKS calls hub_ops makes: managedClusters GET, upgradeProfiles/default GET,
  listClusterUserCredential POST and the region's kubernetesVersions GET (which minors AKS
  supports, under which support plans). Their bodies are given by the caller (tests use the recorded
  shapes of hub_ops_tests/aks_recorded.py); a request needs a token for ARM, and
  listClusterUserCredential the "Azure Kubernetes Service Cluster User Role" (`allow_user`),
  answered otherwise with ARM's own error shapes.
- `/authenticate`: the TokenReview webhook of the cluster's kube-apiserver, accepting tokens this
  server issued for the AKS server application (as AKS's Entra ID integration does; the user
  name is the principal's object id) and local-account tokens (`local_tokens`).

HTTPS only, as the Azure SDK's bearer-token policy refuses plain http: the server's certificate
comes from a CA made here with `cryptography`; `ca_file` is what clients trust
(REQUESTS_CA_BUNDLE for the SDK, certificate-authority for the webhook).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import ssl
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ARM_AUDIENCE = "https://management.azure.com"
AKS_SERVER_APP = "6dae42f8-4368-4678-94ff-3960e28e3630"
_CLUSTER_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<group>[^/]+)/providers/microsoft\.containerservice/"
    r"managedclusters/(?P<name>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_VERSIONS_PATH = re.compile(
    r"^/subscriptions/[^/]+/providers/microsoft\.containerservice/locations/(?P<location>[^/]+)/kubernetesversions$",
    re.IGNORECASE,
)


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a 127.0.0.1/localhost serving certificate it signs: (ca.crt, server.crt, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("hub-ops-azure-stand-in-ca"))
        .issuer_name(name("hub-ops-azure-stand-in-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )  # digital signature, cert sign, CRL sign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    paths[2].chmod(0o600)
    return paths


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Principal:
    """A service principal (client id + secret) or a workload identity (client id + the
    federated token its pods present)."""

    client_id: str
    secret: str | None = field(default=None, repr=False)
    federated_token: str | None = field(default=None, repr=False)
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class ManagedCluster:
    body: dict  # managedClusters GET
    upgrade_profile: dict | None = None  # upgradeProfiles/default GET
    kubeconfig: dict | None = None  # what listClusterUserCredential returns (base64 in the answer)
    users: set[str] = field(default_factory=set)  # object ids with the Cluster User Role


@dataclass
class AksControlPlane:
    workdir: Path
    tenant: str = field(default_factory=lambda: str(uuid.uuid4()))
    token_life_s: int = 3599  # what Entra ID's client-credentials answers say (expires_in)
    principals: dict[str, Principal] = field(default_factory=dict)
    clusters: dict[tuple[str, str, str], ManagedCluster] = field(default_factory=dict)  # lower-cased ARM path parts
    kubernetes_versions: dict[str, dict] = field(default_factory=dict)  # location -> kubernetesVersions GET
    local_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # token -> user (local accounts)
    reviews: list[dict] = field(default_factory=list)  # what each TokenReview decided (no tokens)
    issued: list[dict] = field(default_factory=list)  # claims of each token issued
    requests: list[str] = field(default_factory=list)  # "METHOD path" of each ARM request
    server: ThreadingHTTPServer | None = None
    _signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def url(self) -> str:
        assert self.server is not None, "not started"
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "tls" / "ca.crt"

    # ------------------------------------------------------------ setup

    def add_service_principal(self) -> tuple[Principal, dict]:
        """A new service principal and its key file as hub_ops reads it (the JSON
        `az ad sp create-for-rbac --sdk-auth` prints, less the endpoints)."""
        principal = Principal(client_id=str(uuid.uuid4()), secret=secrets.token_urlsafe(30))
        self.principals[principal.client_id] = principal
        return principal, {
            "clientId": principal.client_id,
            "clientSecret": principal.secret,
            "tenantId": self.tenant,
        }

    def add_workload_identity(self) -> Principal:
        principal = Principal(client_id=str(uuid.uuid4()), federated_token=secrets.token_urlsafe(40))
        self.principals[principal.client_id] = principal
        return principal

    def add_cluster(self, subscription: str, group: str, name: str, cluster: ManagedCluster) -> None:
        self.clusters[(subscription.lower(), group.lower(), name.lower())] = cluster

    def webhook_kubeconfig(self, path: Path) -> Path:
        """The file kube-apiserver's --authentication-token-webhook-config-file names."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "aks-webhook",
                    "cluster": {"server": f"{self.url}/authenticate", "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": "kube-apiserver", "user": {}}],
            "contexts": [{"name": "webhook", "context": {"cluster": "aks-webhook", "user": "kube-apiserver"}}],
            "current-context": "webhook",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    # ------------------------------------------------------------ tokens

    def _issue(self, principal: Principal, audience: str) -> dict:
        now = int(dt.datetime.now(dt.UTC).timestamp())
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant}/",
            "tid": self.tenant,
            "oid": principal.object_id,
            "appid": principal.client_id,
            "sub": principal.object_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_life_s,
            "jti": uuid.uuid4().hex,
        }
        self.issued.append(claims)
        head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64url(json.dumps(claims).encode())
        signature = hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return {
            "token_type": "Bearer",
            "expires_in": self.token_life_s,
            "ext_expires_in": self.token_life_s,
            "access_token": f"{head}.{body}.{_b64url(signature)}",
        }

    def claims(self, token: str, audience: str) -> dict:
        """The claims of a token this server issued for `audience`; ValueError saying why not."""
        try:
            head, body, signature = token.split(".")
            expected = hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            valid = hmac.compare_digest(expected, _unb64url(signature))
            claims = json.loads(_unb64url(body))
        except ValueError:
            raise ValueError("not a token of this tenant") from None
        if not valid:
            raise ValueError("signature does not match")
        if claims.get("aud") != audience:
            raise ValueError(f"token is for {claims.get('aud')}, not {audience}")
        if claims["exp"] <= dt.datetime.now(dt.UTC).timestamp():
            raise ValueError("token expired")
        return claims

    def _grant(self, form: dict[str, str], tenant: str) -> tuple[int, dict]:
        def refuse(code: int, error: str, aadsts: str, text: str) -> tuple[int, dict]:
            return code, {"error": error, "error_description": f"{aadsts}: {text}", "error_codes": [int(aadsts[6:])]}

        if tenant != self.tenant:
            return refuse(400, "invalid_request", "AADSTS90002", f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return refuse(400, "unsupported_grant_type", "AADSTS70003", "The app requested an unsupported grant type.")
        principal = self.principals.get(form.get("client_id", ""))
        if principal is None:
            return refuse(
                400,
                "unauthorized_client",
                "AADSTS700016",
                f"Application with identifier '{form.get('client_id')}' was not found in the directory.",
            )
        assertion = form.get("client_assertion")
        if principal.secret is not None and hmac.compare_digest(form.get("client_secret", ""), principal.secret):
            pass
        elif (
            principal.federated_token is not None
            and assertion
            and hmac.compare_digest(assertion, principal.federated_token)
        ):
            pass
        else:
            return refuse(401, "invalid_client", "AADSTS7000215", "Invalid client secret provided.")
        scope = form.get("scope", "").split()
        resource = next((s.removesuffix("/.default") for s in scope if s.endswith("/.default")), None)
        if resource is None:
            return refuse(400, "invalid_scope", "AADSTS1002012", "The provided value for scope is not valid.")
        return 200, self._issue(principal, resource.rstrip("/"))

    def _openid(self, tenant: str) -> dict:
        base = f"{self.url}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "issuer": f"{self.url}/{tenant}/v2.0",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "tenant_region_scope": "EU",
        }

    def authenticate(self, token: str) -> dict:
        """TokenReview status: an Entra ID token for the AKS server application, or a local
        account's token."""
        if token in self.local_tokens:
            return {"authenticated": True, "user": {"username": self.local_tokens[token], "groups": ["system:masters"]}}
        try:
            claims = self.claims(token, AKS_SERVER_APP)
        except ValueError as e:
            return {"authenticated": False, "error": str(e)}
        return {"authenticated": True, "user": {"username": claims["oid"], "uid": claims["oid"]}}

    # ------------------------------------------------------------ ARM

    def _arm(self, method: str, path: str, authorization: str) -> tuple[int, dict]:
        self.requests.append(f"{method} {path}")
        try:
            claims = self.claims(authorization.removeprefix("Bearer "), ARM_AUDIENCE)
        except ValueError as e:
            error = {"code": "InvalidAuthenticationToken", "message": f"The access token is invalid: {e}."}
            return 401, {"error": error}
        versions = _VERSIONS_PATH.match(path)
        if method == "GET" and versions and versions["location"].lower() in self.kubernetes_versions:
            return 200, self.kubernetes_versions[versions["location"].lower()]
        match = _CLUSTER_PATH.match(path)
        if not match:
            return 404, {"error": {"code": "InvalidResourceType", "message": f"No route for {path}"}}
        sub, group, name, rest = match["sub"], match["group"], match["name"], (match["rest"] or "").lower()
        cluster = self.clusters.get((sub.lower(), group.lower(), name.lower()))
        if cluster is None:
            return 404, {
                "error": {
                    "code": "ResourceNotFound",
                    "message": f"The Resource 'Microsoft.ContainerService/managedClusters/{name}' under resource "
                    f"group '{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                }
            }
        if method == "GET" and rest == "":
            return 200, cluster.body
        if method == "GET" and rest == "/upgradeprofiles/default" and cluster.upgrade_profile is not None:
            return 200, cluster.upgrade_profile
        if method == "POST" and rest == "/listclusterusercredential" and cluster.kubeconfig is not None:
            if claims["oid"] not in cluster.users:
                action = "Microsoft.ContainerService/managedClusters/listClusterUserCredential/action"
                return 403, {
                    "error": {
                        "code": "AuthorizationFailed",
                        "message": f"The client '{claims['appid']}' with object id '{claims['oid']}' does not have "
                        f"authorization to perform action '{action}' over scope '{cluster.body['id']}' or the scope "
                        "is invalid. If access was recently granted, please refresh your credentials.",
                    }
                }
            value = base64.b64encode(yaml.safe_dump(cluster.kubeconfig, sort_keys=False).encode()).decode()
            return 200, {"kubeconfigs": [{"name": "clusterUser", "value": value}]}
        return 404, {"error": {"code": "NotFound", "message": f"{method} {path}"}}

    # ------------------------------------------------------------ server

    def start(self) -> AksControlPlane:
        plane = self
        ca, cert, key = make_tls(self.workdir / "tls")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet: tests read reviews/requests
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _answer(self, code: int, doc: dict) -> None:
                data = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                if code == 401:
                    self.send_header("WWW-Authenticate", 'Bearer authorization_uri="", error="invalid_token"')
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                openid = re.match(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$", path)
                if openid:
                    return self._answer(200, plane._openid(openid[1]))
                self._answer(*plane._arm("GET", path, self.headers.get("Authorization", "")))

            def do_POST(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                body = self._body()
                if path == "/authenticate":
                    review = json.loads(body)
                    status = plane.authenticate(review.get("spec", {}).get("token", ""))
                    plane.reviews.append(status)
                    answer = {"apiVersion": review["apiVersion"], "kind": "TokenReview", "status": status}
                    return self._answer(200, answer)
                grant = re.match(r"^/([^/]+)/oauth2/v2\.0/token$", path)
                if grant:
                    form = dict(urllib.parse.parse_qsl(body.decode()))
                    return self._answer(*plane._grant(form, grant[1]))
                self._answer(*plane._arm("POST", path, self.headers.get("Authorization", "")))

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # the handshake happens in each request's thread, not in the accepting one
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
        threading.Thread(target=self.server.serve_forever, daemon=True, name="aks-control-plane").start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
