"""Object storage through fsspec: gs:// via gcsfs in production, local folders elsewhere.

One switch, `local_root`: when set, every gs://bucket/path maps to
<local_root>/gcs/bucket/path, so fleet.yaml names its real buckets and a laptop run writes
the same layout to disk. `gcs_endpoint` points gcsfs at a GCS-protocol server (tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub_ops.settings import Settings, get_settings, quiet_gcsfs_probe, secret

quiet_gcsfs_probe()


@dataclass(frozen=True)
class Storage:
    local_root: str | None = None
    gcs_endpoint: str | None = None  # e.g. http://127.0.0.1:4443 (fake-gcs-server)
    gcs_token: str | None = None  # "anon", "google_default", or a key file; None = gcsfs default

    def resolve(self, url: str) -> str:
        """The URL actually used for `url`: gs:// mapped under local_root when it is set;
        a bare path or file:// URL made absolute."""
        if url.startswith("gs://") and self.local_root:
            return "file://" + str(Path(self.local_root).resolve() / "gcs" / url[len("gs://") :])
        if "://" not in url:
            return "file://" + str(Path(url).resolve())
        return url

    def storage_options(self, url: str) -> dict[str, Any]:
        if self.resolve(url).startswith("gs://"):
            opts: dict[str, Any] = {}
            if self.gcs_endpoint:
                opts["endpoint_url"] = self.gcs_endpoint
            if self.gcs_token:
                opts["token"] = self.gcs_token
            return opts
        return {}

    def filesystem(self, url: str):
        """(fsspec filesystem, path within it) for `url`."""
        import fsspec

        resolved = self.resolve(url)
        fs, path = fsspec.core.url_to_fs(resolved, **self.storage_options(url))
        return fs, path

    def public_url(self, url: str) -> str:
        """A link a person can open: the console page of a gs:// object, or the file:// URL."""
        resolved = self.resolve(url)
        if resolved.startswith("gs://") and not self.gcs_endpoint:
            return "https://console.cloud.google.com/storage/browser/_details/" + resolved[len("gs://") :]
        return resolved

    @classmethod
    def from_settings(cls, settings: Settings, gcs_token: str | None = None) -> Storage:
        """The storage the settings choose, for terminal commands and Dagster alike: a
        GCS-protocol server when HUB_OPS_GCS_ENDPOINT is set (token "anon" unless given);
        else real object storage in production; else gs:// mapped under HUB_OPS_DATA."""
        if settings.gcs_endpoint:
            return cls(gcs_endpoint=settings.gcs_endpoint, gcs_token=gcs_token or "anon")
        if settings.production:
            return cls(gcs_token=gcs_token)
        return cls(local_root=settings.data_dir)


def storage_from_env() -> Storage:
    """Storage for terminal commands (see Storage.from_settings)."""
    return Storage.from_settings(get_settings(), secret("HUB_OPS_GCS_TOKEN"))
