"""Deploy one release: prepare offline, upgrade, wait until ready, health-check, roll back.

Order of work for a release, and what each failure leaves behind:
1. prepare: layer values (sops decrypted in memory), render offline. A bad values file, a
   missing secret key or a template error fails here: the cluster is not touched.
2. in sync? the live manifest equals the rendered one: nothing to upgrade ("unchanged"),
   so a re-run or a duplicate plan never makes a second helm revision.
3. upgrade --install, then wait for its Deployments to be Available.
4. health (hubs): the JupyterHub API answers with the hub's hub-ops token: version, token,
   then start and stop a server for a check user.
2 to 4 and any rollback run under the hub's Lease in kube-system (hub_ops.clients.leases:
one change to a hub at a time, deploy, restore or decommission, whoever launches it).
Any failure once the upgrade began (helm failing part-way, an API error, a refused token, a
timeout, a failed health check, a lost Lease) rolls back to the last deployed revision (or
uninstalls a first install), so the previous release keeps serving; the error carries the
hub's own text, redacted as a whole.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hub_ops.clients.helm import HelmClient, HelmFailure, render_chart
from hub_ops.clients.jupyterhub import HubApi, HubApiError
from hub_ops.clients.kube import ClusterUnreachable, KubeClient, NotReady
from hub_ops.clients.leases import HeldLease, LeaseBusy, LeaseLost, hub_lease_name
from hub_ops.clients.sops import Sops
from hub_ops.deploy.manifests import documents, manifest_digest, validate, workloads
from hub_ops.deploy.releases import PreparedCharts, Release
from hub_ops.deploy.values import load_values_files, redact, values_digest
from hub_ops.fleet.loader import Fleet

# helm labels on every release hub_ops deploys: how orphaned releases are found later
MANAGED_LABEL, CLUSTER_LABEL, HUB_LABEL = "hub-ops/managed", "hub-ops/cluster", "hub-ops/hub"


def release_labels(release: Release) -> dict[str, str]:
    return {MANAGED_LABEL: "true", CLUSTER_LABEL: release.cluster, HUB_LABEL: release.hub or ""}


TOKEN_SERVICE = "hub-ops"  # the JupyterHub service whose apiToken hub_ops uses


class DeployFailed(RuntimeError):
    """A release failed to deploy or to pass its health check. `result` says what was done."""

    def __init__(self, message: str, result: ReleaseResult, retryable: bool = False):
        super().__init__(message)
        self.result = result
        self.retryable = retryable  # the cluster was unreachable: trying again may work


@dataclass
class DeploySettings:
    """How releases are deployed; each default is stated here once (deploy_job's config
    form shows these)."""

    max_parallel: int = 4  # releases of one cluster step deployed at once
    ready_timeout: float = 600.0
    health_timeout: float = 180.0
    health_user: str = "hub-ops-health"
    start_server: bool = True  # False: version + token only (hubs that cannot spawn on demand)
    poll: float = 1.0
    lease_ttl: int = 120  # renewed every ttl/3 while held; a holder that died frees the hub after it
    lease_wait: float = 600.0  # how long to wait for another run's change to the hub


@dataclass
class Prepared:
    release: Release
    chart_path: Path
    chart_version: str
    values: dict[str, Any] = field(repr=False)
    values_digest: str
    docs: list[dict[str, Any]] = field(repr=False)
    manifest_digest: str
    secrets: set[str] = field(repr=False, default_factory=set)


@dataclass
class ReleaseResult:
    release: str  # id: cluster/hub or cluster (support)
    cluster: str
    hub: str | None
    namespace: str
    chart: str
    chart_version: str
    values_digest: str
    manifest_digest: str
    status: str = "planned"  # deployed | unchanged | rolled back | failed | dry-run
    revision: int | None = None
    previous_revision: int | None = None
    health: str = "not checked"
    duration_s: float = 0.0
    message: str = ""
    git_sha: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReleaseDeployer:
    """Deploys releases of one cluster. Thread-safe for different releases."""

    def __init__(
        self,
        fleet: Fleet,
        charts: PreparedCharts,
        sops: Sops,
        *,
        helm: HelmClient | None = None,
        kube: KubeClient | None = None,
        hub_api: Callable[[Release, str], HubApi] | None = None,
        settings: DeploySettings | None = None,
        log: Callable[[str], None] = lambda m: None,
    ):
        self.fleet, self.charts, self.sops = fleet, charts, sops
        self.helm, self.kube, self.hub_api = helm, kube, hub_api
        self.settings = settings or DeploySettings()
        self.log = log

    # ------------------------------------------------------------ offline

    def prepare(self, release: Release) -> Prepared:
        """Values layered and the chart rendered offline. Raises DeployFailed; touches nothing."""
        secrets: set[str] = set()
        result = self._result(release)
        try:
            values = load_values_files(list(release.values_files), self.sops, self.fleet.root, secrets)
            chart_path = self.charts.path(release)
            rendered = render_chart(chart_path, release.name, release.namespace, values)
        except (HelmFailure, ValueError, FileNotFoundError, OSError) as e:
            result.status, result.message = "failed", redact(f"{release.id}: {e}", secrets)
            raise DeployFailed(result.message, result) from None
        docs = documents(rendered.values())
        version = self.fleet.charts[release.chart].version if release.chart in self.fleet.charts else ""
        return Prepared(
            release, chart_path, version, values, values_digest(values), docs, manifest_digest(docs), secrets
        )

    def dry_run(self, release: Release, kubernetes_version: str) -> ReleaseResult:
        """Render offline and validate every object against `kubernetes_version`'s schemas."""
        start = time.monotonic()
        p = self.prepare(release)
        result = self._result(release, p)
        problems = validate(p.docs, kubernetes_version)
        result.duration_s = round(time.monotonic() - start, 3)
        if problems:
            result.status = "failed"
            result.message = redact(
                f"{release.id}: {len(problems)} invalid object(s) for Kubernetes {kubernetes_version}: "
                + "; ".join(problems[:10]),
                p.secrets,
            )
            raise DeployFailed(result.message, result)
        result.status = "dry-run"
        result.message = f"{len(p.docs)} objects valid for Kubernetes {kubernetes_version}"
        return result

    # ------------------------------------------------------------ against the cluster

    def deploy(
        self,
        release: Release,
        *,
        git_sha: str | None = None,
        holder: str = "hub-ops",
        description: str = "",
        health: bool = True,
    ) -> ReleaseResult:
        """Bring `release` to its rendered state; roll back on failure. Safe to rerun.

        Holds the hub's Lease (hub_ops.clients.leases) from the in-sync check through the
        rollback, so no other deploy, restore or decommission of the hub runs in between;
        `holder` names this run in the Lease (who is waited for, in the other's log)."""
        assert self.helm is not None and self.kube is not None, "deploy needs helm and kube clients"
        start = time.monotonic()
        p = self.prepare(release)
        result = self._result(release, p)
        result.git_sha = git_sha
        attempt = _Attempt()
        try:
            with self.hold(release, holder) as lease:
                try:
                    self._deploy_held(release, p, result, lease, attempt, description, health)
                except Exception as e:  # noqa: BLE001 - anything after the upgrade began is rolled back
                    self._fail(release, p, result, e, attempt, holder, lease, start)
        except (LeaseBusy, ClusterUnreachable) as e:  # the Lease could not be taken: nothing was changed
            result.status = "failed"
            result.message = redact(f"{release.id}: {describe_error(e)}", p.secrets)
            result.duration_s = round(time.monotonic() - start, 3)
            raise DeployFailed(result.message, result, retryable=isinstance(e, ClusterUnreachable)) from None
        result.duration_s = round(time.monotonic() - start, 3)
        return result

    def _deploy_held(self, release, p: Prepared, result: ReleaseResult, lease, attempt, description, health) -> None:
        live = self.helm.current(release.name, release.namespace)
        previous = self.helm.last_deployed(release.name, release.namespace)
        result.previous_revision = previous.revision if previous else None
        if live and live.status == "deployed" and self._live_digest(release) == p.manifest_digest:
            result.status, result.revision = "unchanged", live.revision
            self.log(f"{release.id}: in sync at revision {live.revision}, nothing to upgrade")
        else:
            lease.check()
            # from here on the release may change: any failure returns it to previous_revision
            attempt.started, attempt.revision = True, (live.revision if live else 0) + 1
            info = self.helm.upgrade_install(
                p.chart_path,
                release.name,
                release.namespace,
                p.values,
                description=description or f"hub-ops {result.git_sha or ''}".strip(),
                labels=release_labels(release),
            )
            result.status, result.revision = "deployed", info.revision
            attempt.revision = info.revision
            self.log(f"{release.id}: helm revision {info.revision} ({info.status})")
        lease.check()
        self._wait_ready(p)
        lease.check()
        if health and release.hub:
            result.health = self.health_check(release, p)
        elif not release.hub:
            result.health = "workloads available"
        lease.check()

    def _fail(self, release, p: Prepared, result, error: Exception, attempt, holder: str, lease, start) -> None:
        """Roll back if the upgrade began, then raise DeployFailed with the whole text redacted."""
        message = f"{release.id}: {describe_error(error)}"
        if isinstance(error, (NotReady, HubApiError)):
            result.health = "failed"
        result.status = "failed"
        if attempt.started:
            done, changed = self._roll_back_held(release, result.previous_revision, attempt.revision, holder, lease)
            message += "; " + done
            result.status = "rolled back" if changed else "failed"
        result.message = redact(message, p.secrets)
        result.duration_s = round(time.monotonic() - start, 3)
        # an unreachable API may come back: a retry redoes the deploy (in sync, or upgraded again)
        raise DeployFailed(result.message, result, retryable=isinstance(error, ClusterUnreachable)) from None

    def _roll_back_held(self, release, previous: int | None, ours: int, holder: str, lease) -> tuple[str, bool]:
        """Roll back under the Lease (taken again if it was lost: another run took it after
        ours expired), leaving alone a revision newer than ours: another run's.
        Returns (what was done, whether the release was changed back)."""
        try:
            if lease.lost:
                with self.hold(release, holder):
                    return self._roll_back_ours(release, previous, ours)
            return self._roll_back_ours(release, previous, ours)
        except Exception as e:  # noqa: BLE001 - said in the step's message, which fails anyway
            return f"ROLLBACK FAILED: {describe_error(e)}", False

    def _roll_back_ours(self, release, previous: int | None, ours: int) -> tuple[str, bool]:
        current = self.helm.current(release.name, release.namespace)
        if current is not None and ours and current.revision > ours:
            return f"not rolled back: revision {current.revision} by another run is newer than ours ({ours})", False
        return self._roll_back(release, previous)

    def check_or_roll_back(self, release: Release, result: ReleaseResult, holder: str = "hub-ops") -> ReleaseResult:
        """Health-check a release deployed by an earlier step; roll it back (under the hub's
        Lease) when the check fails. Returns the updated result; raises DeployFailed."""
        p = self.prepare(release)
        result = dataclasses.replace(result)
        start = time.monotonic()
        try:
            with self.hold(release, holder) as lease:
                try:
                    result.health = self.health_check(release, p)
                    lease.check()
                except Exception as e:  # noqa: BLE001 - HubApiError, the API unreachable, a lost Lease
                    result.health = "failed"
                    message = f"{release.id}: health check failed: {describe_error(e)}"
                    if result.status == "deployed":
                        ours = result.revision or 0
                        done, changed = self._roll_back_held(release, result.previous_revision, ours, holder, lease)
                        message += "; " + done
                        result.status = "rolled back" if changed else "failed"
                    result.message = redact(message, p.secrets)
                    raise DeployFailed(result.message, result) from None
        except (LeaseBusy, ClusterUnreachable) as e:
            result.health = "failed"
            result.message = redact(f"{release.id}: health check not run: {describe_error(e)}", p.secrets)
            raise DeployFailed(result.message, result, retryable=isinstance(e, ClusterUnreachable)) from None
        result.duration_s = round(result.duration_s + time.monotonic() - start, 3)
        return result

    def health_check(self, release: Release, prepared: Prepared | None = None) -> str:
        """The hub answers its API with its token and can start and stop a server.
        Retries until health_timeout; raises HubApiError with the hub's own message."""
        p = prepared or self.prepare(release)
        token = find_service_token(p.values)
        if token is None:
            raise HubApiError(f"no jupyterhub.hub.services.{TOKEN_SERVICE}.apiToken in the hub's values")
        assert self.hub_api is not None, "health checks need a JupyterHub API factory"
        api = self.hub_api(release, token)
        deadline = time.monotonic() + self.settings.health_timeout
        while True:
            try:
                version = api.version()
                api.check_token()
                if not self.settings.start_server:
                    return f"JupyterHub {version} answers; token accepted"
                user = self.settings.health_user
                api.ensure_user(user)
                started = api.start_server(
                    user, timeout=max(5.0, deadline - time.monotonic()), poll=min(self.settings.poll, 0.5)
                )
                stopped = api.stop_server(user, timeout=60, poll=min(self.settings.poll, 0.5))
                return f"JupyterHub {version}: server of {user} started in {started:.1f} s, stopped in {stopped:.1f} s"
            except HubApiError as e:
                if e.status in (401, 403) or time.monotonic() > deadline:
                    raise
                self.log(f"{release.id}: health check retry after: {e}")
                time.sleep(self.settings.poll)

    def roll_back(self, release: Release, previous_revision: int | None) -> str:
        """Return `release` to `previous_revision` (uninstall when None). Idempotent."""
        return self._roll_back(release, previous_revision)[0]

    def _roll_back(self, release: Release, previous_revision: int | None) -> tuple[str, bool]:
        """(what was done, whether the release changed: False when helm had changed nothing)."""
        assert self.helm is not None
        if previous_revision is None:
            if self.helm.uninstall(release.name, release.namespace):
                return "first install removed", True
            return "nothing was installed", False
        current = self.helm.current(release.name, release.namespace)
        if (
            current
            and current.status == "deployed"
            and (
                current.revision == previous_revision
                or self._live_digest(release) == self._live_digest(release, previous_revision)
            )
        ):
            return f"already at the contents of revision {previous_revision}", False
        info = self.helm.rollback(release.name, release.namespace, previous_revision)
        return f"rolled back to revision {previous_revision} (now revision {info.revision})", True

    # ------------------------------------------------------------ helpers

    def roll_back_or_report(self, release: Release, previous_revision: int | None) -> str:
        """roll_back, turning its own failure into text for the step's error message."""
        try:
            return self._roll_back(release, previous_revision)[0]
        except Exception as e:  # noqa: BLE001 - the step fails anyway; say why the rollback did not happen
            return f"ROLLBACK FAILED: {describe_error(e)}"

    def _live_digest(self, release: Release, revision: int | None = None) -> str | None:
        manifest = self.helm.manifest(release.name, release.namespace, revision) if self.helm else None
        return manifest_digest(documents([manifest])) if manifest else None

    def _wait_ready(self, p: Prepared) -> None:
        for _kind, name in workloads(p.docs):
            state = self.kube.wait_deployment_available(
                p.release.namespace, name, self.settings.ready_timeout, self.settings.poll
            )
            self.log(f"{p.release.id}: {state}")

    def hold(self, release: Release, holder: str) -> HeldLease:
        """The hub's Lease (one change to a hub at a time: deploys, restores, decommissions)."""
        return HeldLease(
            self.kube,
            hub_lease_name(release.namespace),
            holder,
            ttl=self.settings.lease_ttl,
            wait=self.settings.lease_wait,
            poll=self.settings.poll,
            log=lambda m: self.log(f"{release.id}: {m}"),
        )

    def _result(self, release: Release, p: Prepared | None = None) -> ReleaseResult:
        return ReleaseResult(
            release.id,
            release.cluster,
            release.hub,
            release.namespace,
            release.chart,
            p.chart_version if p else "",
            p.values_digest if p else "",
            p.manifest_digest if p else "",
        )


@dataclass
class _Attempt:
    started: bool = False  # helm upgrade/install was called: the release may have changed
    revision: int = 0  # the revision this attempt makes (or made)


def describe_error(error: Exception) -> str:
    """What went wrong, in the words of the system that said so (not yet redacted)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(error, ApiException):
        detail = ""
        try:
            detail = json.loads(error.body or "{}").get("message", "")
        except (ValueError, AttributeError):
            detail = str(error.body or "")[:300]
        return f"Kubernetes API answered {error.status} {error.reason}" + (f": {detail}" if detail else "")
    if isinstance(error, (NotReady, HubApiError, HelmFailure, ClusterUnreachable, LeaseBusy, LeaseLost)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def find_service_token(values: dict[str, Any], service: str = TOKEN_SERVICE) -> str | None:
    """The hub-ops service token: jupyterhub.hub.services.<service>.apiToken, at the top or
    under a subchart key (daskhub nests basehub's values under `basehub:`)."""
    candidates = [values] + [v for v in values.values() if isinstance(v, dict)]
    for doc in candidates:
        token = (((doc.get("jupyterhub") or {}).get("hub") or {}).get("services") or {}).get(service, {})
        if isinstance(token, dict) and token.get("apiToken"):
            return str(token["apiToken"])
    return None
