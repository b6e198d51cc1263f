"""Object storage through fsspec: gs:// via gcsfs in production, local folders elsewhere.

One switch, `local_root`: when set, every gs://bucket/path maps to
<local_root>/gcs/bucket/path, so fleet.yaml names its real buckets and a laptop run writes
the same layout to disk. `gcs_endpoint` points gcsfs at a GCS-protocol server (tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# gcsfs otherwise probes for a gRPC-only bucket type and waits 60 s per call on anything
# but real GCS; must be set before gcsfs is imported.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


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


def storage_from_env() -> Storage:
    """Storage for terminal commands, chosen as Dagster's `storage` resource chooses it:
    HUB_OPS_GCS_ENDPOINT (a GCS-protocol server, e.g. the local stack's) wins; else
    HUB_OPS_ENV=production reads and writes gs:// for real; else the local default maps gs://
    under $HUB_OPS_DATA (./.data)."""
    endpoint = os.environ.get("HUB_OPS_GCS_ENDPOINT")
    if endpoint:
        return Storage(gcs_endpoint=endpoint, gcs_token=os.environ.get("HUB_OPS_GCS_TOKEN", "anon"))
    if os.environ.get("HUB_OPS_ENV", "local") == "production":
        return Storage(gcs_token=os.environ.get("HUB_OPS_GCS_TOKEN") or None)
    return Storage(local_root=os.environ.get("HUB_OPS_DATA", ".data"))
