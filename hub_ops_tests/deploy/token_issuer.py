"""Bearer tokens that really expire and can really be revoked, on the local kube-apiserver.

The apiserver's token file is read once at start, so revocable tokens come from the
TokenRequest API instead: each token belongs to a ServiceAccount and is bound to a Secret
of its own, and the apiserver checks on every request that the Secret still exists.
Deleting the Secret revokes the token. `source(life)` is a TokenSource (as a cloud's token
provider would be) whose tokens are revoked when their stated life ends, so a client that
sent a token past its expiry gets a real 401.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field

from kubernetes import client


@dataclass
class Issued:
    token: str = field(repr=False)
    secret: str
    expiry: dt.datetime | None


class TokenIssuer:
    def __init__(self, api: client.ApiClient, namespace: str):
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.account = "hub-ops-deployer"
        self.issued: list[Issued] = []
        self._timers: list[threading.Timer] = []
        self.core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=self.account))
        )

    def issue(self, expiry: dt.datetime | None = None) -> str:
        name = f"token-{uuid.uuid4().hex[:8]}"
        secret = self.core.create_namespaced_secret(
            self.namespace, client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data={"for": "binding"})
        )
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[],
                expiration_seconds=3600,
                bound_object_ref=client.V1BoundObjectReference(
                    api_version="v1", kind="Secret", name=name, uid=secret.metadata.uid
                ),
            )
        )
        token = self.core.create_namespaced_service_account_token(self.account, self.namespace, request).status.token
        self.issued.append(Issued(token, name, expiry))
        return token

    def revoke(self, token: str) -> None:
        issued = next(i for i in self.issued if i.token == token)
        try:
            self.core.delete_namespaced_secret(issued.secret, self.namespace)
        except client.ApiException as e:
            if e.status != 404:
                raise

    def source(self, life: float):
        """A TokenSource handing out a new token per call, each revoked `life` s later."""

        def provide() -> tuple[str, dt.datetime]:
            expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=life)
            token = self.issue(expiry)
            timer = threading.Timer(life, self.revoke, args=(token,))
            timer.daemon = True
            timer.start()
            self._timers.append(timer)
            return token, expiry

        return provide

    def revoked(self, token: str) -> bool:
        issued = next(i for i in self.issued if i.token == token)
        try:
            self.core.read_namespaced_secret(issued.secret, self.namespace)
            return False
        except client.ApiException as e:
            if e.status == 404:
                return True
            raise

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
