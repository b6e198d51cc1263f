"""The one reader of the process environment: hub_ops's settings, built once.

Both faces of hub_ops (the `hub-ops` command and the Dagster definitions) take their
environment-dependent choices from `get_settings()`, so a variable means the same thing to
both. The README's "Settings" table lists every variable. Secret values (tokens) are not
held here: Dagster resources name them with `dg.EnvVar`, terminal commands read them with
`secret()` when they use them.

Standard library only: `hub-ops validate` and the backup commands import this first.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENTS = ("local", "production")


class SettingsError(ValueError):
    """An environment variable holds a value hub_ops cannot use; the message names it."""


@dataclass(frozen=True)
class Settings:
    env: str = "local"  # HUB_OPS_ENV: local | production (picks the Dagster resources)
    fleet_root: str | None = None  # HUB_OPS_FLEET: the fleet folder (None: found from the working folder)
    data_dir: str = ".data"  # HUB_OPS_DATA: local storage root (gs://, s3://, az:// mapped below it)
    cache_dir: str = str(Path.home() / ".cache" / "hub_ops")  # HUB_OPS_CACHE: git mirrors, built binaries
    gcs_endpoint: str | None = None  # HUB_OPS_GCS_ENDPOINT: a GCS-protocol server instead of the local map
    image: str | None = None  # HUB_OPS_IMAGE: the hub_ops image backup pods run
    backup_service_account: str | None = None  # HUB_OPS_BACKUP_SERVICE_ACCOUNT: backup pods' service account
    sops_age_key_file: str | None = None  # SOPS_AGE_KEY_FILE: age key sops decrypts with
    gcs_token_set: bool = False  # HUB_OPS_GCS_TOKEN is set (its value is read where it is used)
    aws_endpoint: str | None = None  # AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL: an S3-compatible server
    aws_region: str | None = None  # AWS_REGION or AWS_DEFAULT_REGION
    azure_account: str | None = None  # AZURE_STORAGE_ACCOUNT_NAME (with DefaultAzureCredential)
    azure_storage_set: bool = False  # AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_NAME is set
    azure_subscription_id: str | None = None  # AZURE_SUBSCRIPTION_ID: AKS clusters without azure.key
    azure_authority_host: str | None = None  # AZURE_AUTHORITY_HOST: Entra ID host (azure-identity reads it too)
    azure_arm_endpoint: str | None = None  # HUB_OPS_AZURE_ARM_ENDPOINT: ARM (default management.azure.com)
    today: dt.date | None = None  # HUB_OPS_TODAY: a fixed date for tests and the demo (never in production)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        env = environ.get("HUB_OPS_ENV", "local") or "local"
        if env not in ENVIRONMENTS:
            raise SettingsError(f"HUB_OPS_ENV={env!r}: expected one of {', '.join(ENVIRONMENTS)}")
        today = environ.get("HUB_OPS_TODAY") or None
        if today is not None:
            if env == "production":
                raise SettingsError(
                    "HUB_OPS_TODAY is set: it fixes the date for tests and the demo; production reads the real date"
                )
            try:
                today = dt.date.fromisoformat(today)
            except ValueError:
                raise SettingsError(f"HUB_OPS_TODAY={today!r}: expected a date, YYYY-MM-DD") from None
        return cls(
            env=env,
            today=today,
            fleet_root=environ.get("HUB_OPS_FLEET") or None,
            data_dir=environ.get("HUB_OPS_DATA") or ".data",
            cache_dir=environ.get("HUB_OPS_CACHE") or cls.cache_dir,
            gcs_endpoint=environ.get("HUB_OPS_GCS_ENDPOINT") or None,
            image=environ.get("HUB_OPS_IMAGE") or None,
            backup_service_account=environ.get("HUB_OPS_BACKUP_SERVICE_ACCOUNT") or None,
            sops_age_key_file=environ.get("SOPS_AGE_KEY_FILE") or None,
            gcs_token_set=bool(environ.get("HUB_OPS_GCS_TOKEN")),
            aws_endpoint=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None,
            aws_region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or None,
            azure_account=environ.get("AZURE_STORAGE_ACCOUNT_NAME") or None,
            azure_storage_set=bool(
                environ.get("AZURE_STORAGE_CONNECTION_STRING") or environ.get("AZURE_STORAGE_ACCOUNT_NAME")
            ),
            azure_subscription_id=environ.get("AZURE_SUBSCRIPTION_ID") or None,
            azure_authority_host=environ.get("AZURE_AUTHORITY_HOST") or None,
            azure_arm_endpoint=environ.get("HUB_OPS_AZURE_ARM_ENDPOINT") or None,
        )

    @property
    def production(self) -> bool:
        return self.env == "production"

    def storage_pod_env(self) -> dict[str, str]:
        """The non-secret storage variables a backup pod needs to reach the same stores
        (endpoints, region, Azure account); credentials come from the pod's service account."""
        values = {
            "HUB_OPS_GCS_ENDPOINT": self.gcs_endpoint,
            "AWS_ENDPOINT_URL_S3": self.aws_endpoint,
            "AWS_REGION": self.aws_region,
            "AZURE_STORAGE_ACCOUNT_NAME": self.azure_account,
        }
        return {k: v for k, v in values.items() if v}

    def fleet_folder(self) -> str:
        """HUB_OPS_FLEET, else ./deployments when it holds a fleet, else the working folder."""
        if self.fleet_root:
            return self.fleet_root
        return "deployments" if Path("deployments/fleet.yaml").is_file() else "."

    def backup_image(self) -> str:
        return self.image or ("hub-ops:latest" if self.production else "hub-ops:dev")

    def age_key_file(self, fleet_root: str | os.PathLike) -> str | None:
        """SOPS_AGE_KEY_FILE; locally, else the fleet's demo.agekey when it has one (the example
        fleet's sops files are encrypted to it)."""
        if self.sops_age_key_file or self.production:
            return self.sops_age_key_file
        demo_key = Path(fleet_root) / "demo.agekey"
        return str(demo_key) if demo_key.is_file() else None


VARIABLES = (
    "HUB_OPS_ENV",
    "HUB_OPS_FLEET",
    "HUB_OPS_DATA",
    "HUB_OPS_CACHE",
    "HUB_OPS_GCS_ENDPOINT",
    "HUB_OPS_IMAGE",
    "HUB_OPS_BACKUP_SERVICE_ACCOUNT",
    "SOPS_AGE_KEY_FILE",
    "HUB_OPS_TODAY",
    # the AWS and Azure SDKs' standard variables that choose where s3:// and az:// go
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AZURE_STORAGE_ACCOUNT_NAME",
    # AKS: the subscription of clusters without azure.key, Entra ID's host, ARM's endpoint
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_AUTHORITY_HOST",
    "HUB_OPS_AZURE_ARM_ENDPOINT",
)
# only whether they are set counts here (the SDKs read the values themselves)
SECRETS = ("HUB_OPS_GCS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING")


def get_settings() -> Settings:
    """The settings of this process's environment, built once per distinct environment (a
    test or the demo that sets a variable gets settings that say so)."""
    values = [(name, os.environ[name]) for name in VARIABLES if name in os.environ]
    values += [(name, "set") for name in SECRETS if os.environ.get(name)]
    return _settings_for(tuple(values))


@functools.lru_cache(maxsize=8)
def _settings_for(values: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_environ(dict(values))


def secret(name: str) -> str | None:
    """A secret from the environment, read when it is used and never stored in Settings."""
    return os.environ.get(name) or None


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment plus `extra`, for a subprocess that needs both."""
    return {**os.environ, **extra}


def quiet_gcsfs_probe() -> None:
    """gcsfs otherwise probes for a gRPC-only bucket type and waits 60 s per call on anything
    but real GCS; must run before gcsfs is imported."""
    os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
