"""The fleet's config as typed models.

Cluster files follow the 2i2c-org/infrastructure `cluster.yaml` shape, so a fleet kept in
that layout loads unchanged; hub_ops adds a few keys of its own (marked "extension").
Unknown keys are errors everywhere: a typo must never be silently ignored.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
    model_validator,
)

# a DNS label (RFC 1123, at most 63 characters): hub names become namespaces
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class KeyedValueError(ValueError):
    """A model-level error that belongs to one key: the loader reports it at that key's line.

    (pydantic puts errors raised by a model validator at the model itself.)
    """

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _str_or_int(value: Any, handler: ValidatorFunctionWrapHandler) -> str | int:
    # one error for the key instead of one per member of the union (aws.account.str, .int)
    try:
        return handler(value)
    except ValidationError:
        raise ValueError(f"must be a string or an integer (got {value!r})") from None


StrOrInt = Annotated[str | int, WrapValidator(_str_or_int)]

# five cron fields (minute hour day-of-month month day-of-week), as Dagster schedules take them
CRON_PATTERN = r"^\S+ \S+ \S+ \S+ \S+$"
Cron = Annotated[str, Field(pattern=CRON_PATTERN, description="cron, five fields, UTC")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, populate_by_name=True)


# ---------------------------------------------------------------- providers


class BigQueryBilling(Strict):
    project: str
    dataset: str
    billing_id: str | None = None
    table: str | None = None  # extension: defaults to gcp_billing_export_resource_v1_<billing_id>


class GcpBilling(Strict):
    paid_by_us: bool | None = None
    bigquery: BigQueryBilling | None = None


class GcpProvider(Strict):
    project: str
    cluster: str
    zone: str  # a zone or a region (regional clusters), as 2i2c writes it
    key: str | None = None  # sops-encrypted service account key, relative to the cluster folder
    billing: GcpBilling | None = None


class AwsBilling(Strict):
    paid_by_us: bool | None = None


class AwsProvider(Strict):
    account: StrOrInt
    clusterName: str
    region: str
    key: str | None = None
    clusterType: str | None = None
    billing: AwsBilling | None = None


class AzureProvider(Strict):
    key: str | None = None
    cluster: str
    resource_group: str
    billing: dict[str, Any] | None = None


class KubeconfigProvider(Strict):
    file: str  # relative to the cluster folder; usually sops-encrypted


class LocalProvider(Strict):
    """extension: a cluster reached through a plain kubeconfig (or none) on this machine."""

    kubeconfig: str | None = None  # path or env-expanded; None = no API (demo, offline)
    context: str | None = None


# ---------------------------------------------------------------- hub_ops extensions


class Retention(Strict):
    last: int | None = Field(default=None, ge=0)
    daily: int | None = Field(default=None, ge=0)
    weekly: int | None = Field(default=None, ge=0)
    monthly: int | None = Field(default=None, ge=0)


def _workers_setting(value: Any) -> int | str:
    # one message for both forms (pydantic would report the int and the literal separately)
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(f"must be an integer of 1 or more, or auto (got {value!r})")


# how many workers write (and restore) one snapshot: a number, or `auto` (hub_ops.backup.worker_count)
Workers = Annotated[
    int | Literal["auto"],
    PlainValidator(_workers_setting),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"const": "auto"}]}),
]


class HubBackups(Strict):
    enabled: bool = True
    retain: Retention | None = None
    destination: str | None = None  # overrides fleet.yaml backups.destination
    workers: Workers = 1  # processes or Jobs writing one snapshot (hub_ops.backup.parts)


class Decommission(Strict):
    on: dt.date
    successor: str | None = None  # a hub of the same cluster, or <cluster>/<hub>
    notice_days: int = Field(default=14, ge=0)
    keep_backups_days: int = Field(default=90, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _yaml11_on(cls, data: Any) -> Any:
        # YAML 1.1 (PyYAML) reads a bare `on:` key as the boolean True
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data


class NfsHome(Strict):
    server: str
    path: str


class Home(Strict):
    """Where a hub's home directories live (one folder per user).

    Exactly one of: `pvc` (a PersistentVolumeClaim in the hub's namespace, as z2jh and
    jupyterhub-home-nfs create), `nfs` (a server export), `local_path` (a directory on
    this machine, relative to the fleet root: the demo and tests).
    """

    pvc: str | None = None
    nfs: NfsHome | None = None
    local_path: str | None = None
    sub_path: str = ""  # folder within the volume that holds the user folders

    @model_validator(mode="after")
    def _exactly_one(self) -> Home:
        given = [k for k in ("pvc", "nfs", "local_path") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of pvc, nfs, local_path (got {given or 'none'})")
        return self


# ---------------------------------------------------------------- clusters and hubs


class Hub(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    display_name: str
    domain: str
    helm_chart: str
    helm_chart_values_files: list[str] = Field(default_factory=list)
    chart_override: str | None = None  # a Chart.yaml in the cluster folder replacing the chart's
    # extensions
    tier: Literal["staging", "prod"] | None = None
    namespace: str | None = Field(default=None, pattern=NAME_PATTERN)
    home: Home | None = None
    backups: HubBackups | None = None
    decommission: Decommission | None = None

    _cluster: str = PrivateAttr(default="")

    @property
    def cluster(self) -> str:
        return self._cluster

    @property
    def id(self) -> str:
        """`<cluster>/<hub>`: the id used in plans, the CLI and logs."""
        return f"{self._cluster}/{self.name}"

    @property
    def partition_key(self) -> str:
        """`<cluster>.<hub>`: Dagster partition keys may not contain '/'."""
        return f"{self._cluster}.{self.name}"

    @property
    def effective_tier(self) -> str:
        if self.tier:
            return self.tier
        return "staging" if "staging" in self.name else "prod"

    @property
    def effective_namespace(self) -> str:
        return self.namespace or self.name


class Support(Strict):
    helm_chart_values_files: list[str] = Field(default_factory=list)
    helm_chart: str = "support"  # extension: which chart of the charts folder
    namespace: str = Field(default="support", pattern=NAME_PATTERN)  # extension: where the release lives


class Cluster(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    provider: Literal["gcp", "aws", "azure", "kubeconfig", "local"]
    provider_url: str | None = None
    metadata: dict[str, Any] | None = None
    gcp: GcpProvider | None = None
    aws: AwsProvider | None = None
    azure: AzureProvider | None = None
    kubeconfig: KubeconfigProvider | None = None
    local: LocalProvider | None = None
    support: Support | None = None
    hubs: list[Hub] = Field(default_factory=list)
    # extension: node pools that must exist (checked against the observed cluster)
    node_pools: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _provider_block(self) -> Cluster:
        if getattr(self, self.provider) is None:
            raise KeyedValueError(
                "provider", f"provider is {self.provider!r} but the {self.provider!r} block is missing"
            )
        others = [
            p
            for p in ("gcp", "aws", "azure", "kubeconfig", "local")
            if p != self.provider and getattr(self, p) is not None
        ]
        if others:
            raise KeyedValueError(others[0], f"provider is {self.provider!r} but a {others[0]!r} block is also given")
        return self

    def model_post_init(self, _context: Any) -> None:
        for hub in self.hubs:
            hub._cluster = self.name

    def hub(self, name: str) -> Hub | None:
        return next((h for h in self.hubs if h.name == name), None)


# ---------------------------------------------------------------- fleet.yaml


class GitSettings(Strict):
    remote: str = "."  # a URL or a path (relative to the fleet root); "." = the fleet's own repo
    branch: str = "main"
    # extension: branches previewed against `branch` (change_previews), as globs: a pattern
    # starting with refs/ matches whole ref names (refs/pull/*/head), any other a branch name (pr/*)
    preview_branches: list[str] = Field(default_factory=list)

    @field_validator("preview_branches")
    @classmethod
    def _ref_globs(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            bad = next((c for c in (" ", "~", "^", ":", "\\", "..", "@{") if c in p), None)
            if not p or p.startswith("/") or p.endswith("/") or p.endswith(".lock") or bad or "//" in p:
                why = f"contains {bad!r}" if bad else "is empty or starts/ends badly"
                raise ValueError(f"{p!r} is not a branch or ref glob ({why}); e.g. 'pr/*' or 'refs/pull/*/head'")
        return patterns


def first_of_last_month(today: dt.date) -> dt.date:
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _not_in_future(value: dt.date | None) -> dt.date | None:
    # a start after today would leave no partition for today's scheduled run to fill
    if value is not None and value > dt.datetime.now(dt.UTC).date():
        raise ValueError(f"{value} is in the future: the first partition must be today or earlier (YYYY-MM-DD)")
    return value


# extension: the first partition (backup night, cost day); default the first of last month when
# the definitions load, so a fresh instance does not list years of "missing" partitions
StartDate = Annotated[
    dt.date | None,
    AfterValidator(_not_in_future),
    Field(description="first partition, YYYY-MM-DD (default: the first of last month)"),
]


class DeploySettings(Strict):
    """extension: how deploy_on_push hands its runs to Dagster (README "Deploy on push")."""

    # cluster runs one sensor tick creates: Dagster takes 0.4-0.8 s to create a run, so a push
    # touching 100 clusters is paced over ticks (the rest wait in the sensor's cursor), keeping
    # each tick well under 5 s
    runs_per_tick: int = Field(default=5, ge=1)


class WorkerBudget(Strict):
    """extension: one worker's share of a snapshot when a hub says `backups.workers: auto`
    (hub_ops.backup.worker_count): the fewest workers whose shares of the last snapshot's
    bytes, files and worker-time each fit, at most `max_workers`."""

    bytes: int = Field(default=200 * 10**9, ge=1)  # ~35 min to read at 100 MB/s (a first backup)
    files: int = Field(default=1_000_000, ge=1)  # metadata calls: ~2 min at 1 ms each, 8 in flight
    seconds: int = Field(default=3600, ge=1)  # of the last snapshot's time x its workers
    max_workers: int = Field(default=16, ge=1)


class BackupSettings(Strict):
    destination: str = "gs://hub-ops-backups"
    start_date: StartDate = None
    schedule: Cron = "0 2 * * *"
    retain: Retention = Field(default_factory=lambda: Retention(daily=7, weekly=4, monthly=12))
    compression: Literal["zstd", "none"] = "zstd"
    worker_budget: WorkerBudget = Field(default_factory=WorkerBudget)


EXPORT_FORMATS = ("gcp", "aws-cur", "focus", "azure")


class BillingSource(Strict):
    """Exactly one of a BigQuery table or export files at an fsspec URL."""

    bigquery: BigQueryBilling | None = None
    files: str | None = None  # Parquet, CSV or newline JSON as BigQuery exports them; CUR 2.0 Parquet
    # gcp: the detailed export; aws-cur: CUR 2.0 (Data Exports); none: told by the files' columns
    format: Literal["gcp", "aws-cur", "focus", "azure"] | None = None

    @model_validator(mode="after")
    def _one(self) -> BillingSource:
        if (self.bigquery is None) == (self.files is None):
            raise ValueError("give exactly one of bigquery, files")
        return self


class CostSettings(Strict):
    # one report across every source (one currency); a single mapping is one source
    billing: list[BillingSource] | None = None
    sharing: Literal["proportional", "even", "none"] = "proportional"
    schedule: Cron = "0 6 * * *"
    start_date: StartDate = None  # the first day of hub_daily_costs; monthly reports from its month

    @field_validator("billing", mode="before")
    @classmethod
    def _sources(cls, value):
        return [value] if isinstance(value, dict) else value


class ReportSettings(Strict):
    destination: str = "gs://hub-ops-reports"


class UsageSettings(Strict):
    """Who uses each hub (extension): user names in operators' per-user tables (the UI only)."""

    show_user_names: bool = False  # else names are hashed; reports never carry them
    start_date: StartDate = None  # the first day of hub_usage and home_storage; community reports from its month


class KubernetesPolicy(Strict):
    """What the clusters checks allow (extension)."""

    max_minor_skew: int = Field(default=2, ge=0)  # control plane vs node pools
    min_minor: int | None = None  # e.g. 30 for 1.30: older is end of support


# ---------------------------------------------------------------- alerts (extension)

ALERT_SEVERITIES = ("error", "warn", "info")
ALERT_KINDS = ("deploy", "backup", "restore", "decommission", "costs", "clusters", "fleet")
_DURATION = re.compile(r"^(\d+)\s*([smhd])$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(value: Any) -> dt.timedelta:
    """`12h`, `90m`, `2d`, `30s`, or a number of seconds."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return dt.timedelta(seconds=value)
    match = _DURATION.match(str(value).strip()) if isinstance(value, str) else None
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"expected a duration such as 12h, 90m, 2d (got {value!r})")
    return dt.timedelta(seconds=int(match.group(1)) * _DURATION_UNITS[match.group(2)])


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(_duration),
    PlainSerializer(lambda d: f"{int(d.total_seconds())}s"),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^\d+\s*[smhd]$"}, {"type": "number"}]}),
]
# `<file>#<key>`: a key (dotted for nested keys) of a sops-encrypted file next to fleet.yaml
SecretRef = Annotated[
    str, Field(pattern=r"^[^#\s]+#[^#\s]+$", description="<sops file>#<key>, file next to fleet.yaml")
]


class AlertMatch(Strict):
    """Which alerts a route receives: every listed key must match (an absent key matches all)."""

    severity: list[Literal["error", "warn", "info"]] | None = None
    kind: list[Literal["deploy", "backup", "restore", "decommission", "costs", "clusters", "fleet"]] | None = None
    cluster: list[str] | None = None
    hub: list[str] | None = None  # `cluster/hub`, or a hub name on any cluster


class SlackTarget(Strict):
    webhook: SecretRef  # an incoming-webhook URL: whoever has it can post, so it is a secret


class EmailTarget(Strict):
    smtp: str = Field(pattern=r"^[^:\s]+(:\d+)?$", description="host:port (port 587 by default)")
    starttls: bool = True
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    login: SecretRef | None = None  # the key holds {username: ..., password: ...}


class WebhookTarget(Strict):
    url: str = Field(pattern=r"^https?://\S+$")
    secret: SecretRef | None = None  # HMAC-SHA256 key: the body's signature goes in X-Hub-Ops-Signature-256


class AlertRoute(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    slack: SlackTarget | None = None
    email: EmailTarget | None = None
    webhook: WebhookTarget | None = None
    match: AlertMatch = Field(default_factory=AlertMatch)

    @model_validator(mode="after")
    def _one_target(self) -> AlertRoute:
        given = [k for k in ("slack", "email", "webhook") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of slack, email, webhook (got {given or 'none'})")
        return self

    @property
    def channel(self) -> str:
        return next(k for k in ("slack", "email", "webhook") if getattr(self, k) is not None)

    def secret_refs(self) -> list[tuple[tuple[str, ...], str]]:
        """(key path within the route, `file#key`) of every secret the route names."""
        refs = [
            ((self.channel, key), getattr(getattr(self, self.channel), key))
            for key in ("webhook", "login", "secret")
            if getattr(getattr(self, self.channel), key, None)
        ]
        return refs


class AlertSettings(Strict):
    """extension: where alerts go (see the README's "Alerts")."""

    ui_url: str = Field(default="http://localhost:3000", pattern=r"^https?://\S+$")
    repeat_after: Duration = Field(default=dt.timedelta(hours=12))
    failing_ticks: int = Field(default=3, ge=1)  # a sensor/schedule failing this many ticks in a row
    delivery_attempts: int = Field(default=3, ge=1, le=10)
    routes: list[AlertRoute] = Field(default_factory=list)

    @field_validator("ui_url")
    @classmethod
    def _no_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @model_validator(mode="after")
    def _unique_names(self) -> AlertSettings:
        seen: set[str] = set()
        for route in self.routes:
            if route.name in seen:
                raise KeyedValueError("routes", f"duplicate route name {route.name!r}")
            seen.add(route.name)
        return self


def partition_start(start_date: dt.date | None, today: dt.date) -> dt.date:
    """The first partition of a daily series: fleet.yaml's start_date, else the first of last
    month (a recent date, never years back)."""
    return start_date or first_of_last_month(today)


class FleetSettings(Strict):
    clusters_dir: str = "clusters"
    charts_dir: str = "charts"
    git: GitSettings = Field(default_factory=GitSettings)
    deploy_all_on: list[str] = Field(default_factory=list)  # globs relative to the fleet root
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    backups: BackupSettings = Field(default_factory=BackupSettings)
    costs: CostSettings = Field(default_factory=CostSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    kubernetes: KubernetesPolicy = Field(default_factory=KubernetesPolicy)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @field_validator("clusters_dir", "charts_dir")
    @classmethod
    def _relative(cls, v: str) -> str:
        if v.startswith("/") or ".." in v.split("/"):
            raise ValueError("must be a folder inside the fleet root")
        return posixpath.normpath(v)  # "./clusters/" is "clusters": the planner compares paths
