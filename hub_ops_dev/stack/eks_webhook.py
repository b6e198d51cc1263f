"""What EKS runs beside its kube-apiserver, on loopback, for the local stack's "aws" cluster.

- `/authenticate`: a TokenReview webhook (kube-apiserver's
  `--authentication-token-webhook-config-file`) that checks `k8s-aws-v1.` tokens as
  aws-iam-authenticator does: the token is a presigned STS GetCallerIdentity URL that signs
  the header `x-k8s-aws-id`, no older than 15 minutes; the URL is sent (host rewritten to
  moto's STS, its SigV4 fields in an Authorization header, where moto reads them) with this
  cluster's id header, and the ARN STS answers becomes the user name
  (as an EKS access entry maps an IAM user). moto does not check signatures, so the webhook
  checks SigV4 itself for the access keys it was told (`trust_key`): a token signed for
  another cluster, or with another secret, is refused as AWS's STS would refuse it.
- everything else is forwarded to moto, the EKS API, except that DescribeCluster of a
  cluster named in `clusters` answers with the local apiserver's endpoint and CA (moto's
  answer points nowhere); every other field (status, version, ...) is moto's own. moto has
  no DescribeClusterVersions: `cluster_versions`, when set, is its answer (tests give a
  recorded response shape).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

TOKEN_LIFE = dt.timedelta(minutes=15)


@dataclass
class EksControlPlane:
    sts_endpoint: str  # moto's, e.g. http://127.0.0.1:PORT
    cluster_id: str = "hub-ops-eks"  # the EKS cluster name tokens must be signed for
    clusters: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (endpoint, CA base64)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)  # access key id -> secret
    reviews: list[dict] = field(default_factory=list)  # what each TokenReview decided (no tokens)
    cluster_versions: dict | None = None  # the DescribeClusterVersions answer (moto has none)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "not started"
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def trust_key(self, access_key_id: str, secret: str) -> None:
        self.secrets[access_key_id] = secret

    def webhook_kubeconfig(self, path: Path) -> Path:
        """The file kube-apiserver's --authentication-token-webhook-config-file names."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "eks-webhook", "cluster": {"server": f"{self.url}/authenticate"}}],
            "users": [{"name": "kube-apiserver", "user": {}}],
            "contexts": [{"name": "webhook", "context": {"cluster": "eks-webhook", "user": "kube-apiserver"}}],
            "current-context": "webhook",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    def authenticate(self, token: str) -> dict:
        """TokenReview status for `token`: authenticated with the IAM ARN as user name, or why not."""
        try:
            arn, user_id = self._caller(token)
        except ValueError as e:
            return {"authenticated": False, "error": str(e)}
        return {"authenticated": True, "user": {"username": arn, "uid": f"aws-iam-authenticator:{user_id}"}}

    def _caller(self, token: str) -> tuple[str, str]:
        prefix = "k8s-aws-v1."
        if not token.startswith(prefix):
            raise ValueError("not an EKS token")
        body = token[len(prefix) :]
        try:
            url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except ValueError:
            raise ValueError("token is not base64url") from None
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        if query.get("Action") != "GetCallerIdentity" or parts.path not in ("", "/"):
            raise ValueError("token is not a GetCallerIdentity URL")
        if "x-k8s-aws-id" not in query.get("X-Amz-SignedHeaders", "").split(";"):
            raise ValueError("token does not sign x-k8s-aws-id")
        signed = dt.datetime.strptime(query.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        if dt.datetime.now(dt.UTC) - signed > TOKEN_LIFE:
            raise ValueError("token expired")
        self._check_signature(parts.netloc, query)
        # moto reads the caller's key (and routes to STS) only from an Authorization header:
        # the same SigV4 fields move there from the query string
        auth = (
            f"AWS4-HMAC-SHA256 Credential={query['X-Amz-Credential']}, "
            f"SignedHeaders={query['X-Amz-SignedHeaders']}, Signature={query.get('X-Amz-Signature', '')}"
        )
        request = urllib.request.Request(
            f"{self.sts_endpoint}/?{parts.query}",
            headers={"x-k8s-aws-id": self.cluster_id, "Authorization": auth, "X-Amz-Date": query["X-Amz-Date"]},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = ET.fromstring(response.read())
        except urllib.error.HTTPError as e:
            raise ValueError(f"STS refused the token: {e.code}") from None
        found = {el.tag.rsplit("}", 1)[-1]: el.text for el in answer.iter()}
        return found["Arn"], found["UserId"]

    def _check_signature(self, host: str, query: dict[str, str]) -> None:
        """SigV4 of a presigned GET, recomputed with this cluster's id as x-k8s-aws-id."""
        key_id, date, region, service, _ = query["X-Amz-Credential"].split("/")
        secret = self.secrets.get(key_id)
        if secret is None:
            raise ValueError("unknown access key")
        canonical_query = "&".join(
            f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
            for k, v in sorted(query.items())
            if k != "X-Amz-Signature"
        )
        canonical = "\n".join(
            [
                "GET",
                "/",
                canonical_query,
                f"host:{host}\nx-k8s-aws-id:{self.cluster_id}\n",
                query["X-Amz-SignedHeaders"],
                hashlib.sha256(b"").hexdigest(),
            ]
        )
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{query['X-Amz-Date']}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = f"AWS4{secret}".encode()
        for part in (date, region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, query.get("X-Amz-Signature", "")):
            raise ValueError("signature does not match (another cluster's token, or another secret)")

    def start(self) -> EksControlPlane:
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet: tests read `reviews`
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                if self.path != "/authenticate":
                    return self._forward("POST")
                review = json.loads(self._body())
                status = plane.authenticate(review.get("spec", {}).get("token", ""))
                plane.reviews.append(status)
                self._answer(200, {"apiVersion": review["apiVersion"], "kind": "TokenReview", "status": status})

            def do_GET(self) -> None:
                if self.path.startswith("/cluster-versions") and plane.cluster_versions is not None:
                    return self._answer(200, plane.cluster_versions)
                self._forward("GET")

            def do_DELETE(self) -> None:
                self._forward("DELETE")

            def _answer(self, code: int, doc: dict | bytes, content_type: str = "application/json") -> None:
                data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _forward(self, method: str) -> None:
                body = self._body() if method != "GET" else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(plane.sts_endpoint + self.path, body, headers, method=method)
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        code, data, kind = response.status, response.read(), response.headers.get("Content-Type", "")
                except urllib.error.HTTPError as e:
                    code, data, kind = e.code, e.read(), e.headers.get("Content-Type", "")
                name = urllib.parse.unquote(self.path.split("?")[0].removeprefix("/clusters/"))
                if method == "GET" and code == 200 and self.path.startswith("/clusters/") and name in plane.clusters:
                    doc = json.loads(data)
                    endpoint, ca = plane.clusters[name]
                    doc["cluster"]["endpoint"] = endpoint
                    doc["cluster"]["certificateAuthority"] = {"data": ca}
                    data = json.dumps(doc).encode()
                self._answer(code, data, kind or "application/json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True, name="eks-control-plane").start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
