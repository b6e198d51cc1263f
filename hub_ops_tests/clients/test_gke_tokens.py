"""A gcp cluster's access asks its Google credentials for a new token before the last one
expires: a step longer than a token's life keeps working. The GKE answers are recorded
shapes (hub_ops_tests/gke_recorded.py) pointing at the local kube-apiserver, whose tokens
(issued per credentials refresh) are revoked when the credentials say they expire."""

import datetime as dt
import threading
import time

from google.auth import _helpers
from google.oauth2.credentials import Credentials

from hub_ops.clients.gke import cluster_access
from hub_ops.clients.kube import KubeClient
from hub_ops.fleet import load_fleet
from hub_ops_tests.clients.test_gke_kube import point_at_local_apiserver
from hub_ops_tests.deploy.token_issuer import TokenIssuer


def test_cluster_access_refreshes_google_tokens_before_they_expire(
    gke_api, kube_cluster, kube_namespace, example_fleet
):
    point_at_local_apiserver(gke_api, kube_cluster)
    issuer = TokenIssuer(kube_cluster.api_client(), kube_namespace)
    life = 2.0

    def refresh_handler(request, scopes):  # what a token broker does: a new token per refresh
        token = issuer.issue()
        timer = threading.Timer(life, issuer.revoke, args=(token,))
        timer.daemon = True
        timer.start()
        # google-auth stops trusting a token REFRESH_THRESHOLD before its expiry
        return token, dt.datetime.now(dt.UTC).replace(tzinfo=None) + _helpers.REFRESH_THRESHOLD + dt.timedelta(
            seconds=life
        )

    cluster = load_fleet(example_fleet, check_files=False).clusters["pangeo-hubs"]
    access = cluster_access(
        cluster, credentials=Credentials(token=None, refresh_handler=refresh_handler), api_endpoint=gke_api.endpoint
    )
    kube = KubeClient(access, "pangeo-hubs")
    start = time.monotonic()
    calls = 0
    while time.monotonic() - start < 6:
        assert kube.namespace_exists(kube_namespace)  # a revoked token would be a 401 here
        calls += 1
        time.sleep(0.1)
    assert len(issuer.issued) >= 3 and issuer.revoked(issuer.issued[0].token)
    assert calls > 20
    issuer.stop()
