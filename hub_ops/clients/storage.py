"""Object storage through fsspec: gs:// (gcsfs), s3:// (s3fs), az:// and abfs:// (adlfs),
or local folders.

One switch, `local_root`: when set, every cloud URL whose service is not named in `remote`
maps to <local_root>/<gcs|s3|az>/bucket/path, so fleet.yaml names its real buckets and a
laptop run writes the same layout to disk. `gcs_endpoint` points gcsfs at a GCS-protocol
server; `s3_endpoint` s3fs at an S3-compatible one. Credentials are the SDKs' own: the AWS
chain (AWS_ACCESS_KEY_ID..., IRSA), AZURE_STORAGE_CONNECTION_STRING or
AZURE_STORAGE_ACCOUNT_NAME with DefaultAzureCredential, which s3fs and adlfs read when a
client is made, so no secret passes through hub_ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub_ops.settings import Settings, get_settings, quiet_gcsfs_probe, secret

quiet_gcsfs_probe()

# URL scheme -> the service it names (the folder it maps to under local_root)
SERVICES = {"gs": "gcs", "gcs": "gcs", "s3": "s3", "s3a": "s3", "az": "az", "abfs": "az", "abfss": "az"}


def service_of(url: str) -> str | None:
    """The service of a cloud URL ("gcs", "s3" or "az"); None for paths, file:// and others."""
    scheme, sep, _ = url.partition("://")
    return SERVICES.get(scheme) if sep else None


@dataclass(frozen=True)
class Storage:
    local_root: str | None = None
    gcs_endpoint: str | None = None  # e.g. http://127.0.0.1:4443 (fake-gcs-server)
    gcs_token: str | None = None  # "anon", "google_default", or a key file; None = gcsfs default
    s3_endpoint: str | None = None  # an S3-compatible server (AWS_ENDPOINT_URL); None = AWS
    s3_region: str | None = None  # AWS_REGION; None = botocore's default
    remote: frozenset[str] = frozenset()  # services reached although local_root is set

    def resolve(self, url: str) -> str:
        """The URL actually used for `url`: a cloud URL mapped under local_root when it is
        set and its service is not remote; a bare path or file:// URL made absolute."""
        service = service_of(url)
        if service and self.local_root and service not in self.remote:
            rest = url.split("://", 1)[1]
            return "file://" + str(Path(self.local_root).resolve() / service / rest)
        if "://" not in url:
            return "file://" + str(Path(url).resolve())
        return url

    def storage_options(self, url: str) -> dict[str, Any]:
        if self.resolve(url).startswith("file://"):
            return {}
        service = service_of(url)
        # fsspec's listings cache answers `info` from an earlier listing of the folder: stale
        # for objects another process wrote or deleted since (a blob said missing, or present
        # after a prune removed it). Every call asks the store.
        opts: dict[str, Any] = {"use_listings_cache": False}
        if service == "gcs":
            if self.gcs_endpoint:
                opts["endpoint_url"] = self.gcs_endpoint
            if self.gcs_token:
                opts["token"] = self.gcs_token
        elif service == "s3":
            if self.s3_endpoint:
                opts["endpoint_url"] = self.s3_endpoint
            if self.s3_region:
                opts["client_kwargs"] = {"region_name": self.s3_region}
        return opts

    def filesystem(self, url: str):
        """(fsspec filesystem, path within it) for `url`."""
        import fsspec

        resolved = self.resolve(url)
        fs, path = fsspec.core.url_to_fs(resolved, **self.storage_options(url))
        return fs, path

    def public_url(self, url: str) -> str:
        """A link a person can open: the console page of a gs:// or s3:// object, or the URL used."""
        resolved = self.resolve(url)
        service = service_of(resolved)
        rest = resolved.split("://", 1)[-1]
        if service == "gcs" and not self.gcs_endpoint:
            return "https://console.cloud.google.com/storage/browser/_details/" + rest
        if service == "s3" and not self.s3_endpoint:
            bucket, _, key = rest.partition("/")
            return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key}"
        return resolved

    @classmethod
    def from_settings(cls, settings: Settings, gcs_token: str | None = None) -> Storage:
        """The storage the settings choose, for terminal commands and Dagster alike. In
        production every cloud URL goes to its cloud. Locally, a service goes to the server
        its setting names (HUB_OPS_GCS_ENDPOINT, token "anon" unless given; AWS_ENDPOINT_URL;
        AZURE_STORAGE_CONNECTION_STRING or _ACCOUNT_NAME) and the others map under HUB_OPS_DATA."""
        s3 = {"s3_endpoint": settings.aws_endpoint, "s3_region": settings.aws_region}
        if settings.production:
            return cls(gcs_endpoint=settings.gcs_endpoint, gcs_token=gcs_token, **s3)
        remote = {"gcs"} if settings.gcs_endpoint else set()
        remote |= {"s3"} if settings.aws_endpoint else set()
        remote |= {"az"} if settings.azure_storage_set else set()
        return cls(
            local_root=settings.data_dir,
            gcs_endpoint=settings.gcs_endpoint,
            gcs_token=(gcs_token or "anon") if settings.gcs_endpoint else None,
            remote=frozenset(remote),
            **s3,
        )


def storage_from_env() -> Storage:
    """Storage for terminal commands (see Storage.from_settings)."""
    return Storage.from_settings(get_settings(), secret("HUB_OPS_GCS_TOKEN"))


def replace_existing(fs, path: str, data: bytes) -> bool:
    """Overwrite the object at `path` with `data` only if it still exists, in one conditional
    write (GCS generation, S3 If-Match ETag, Azure ETag): an object deleted by someone else
    is never brought back. False when it is gone or was replaced since it was read."""
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return False
    protocol = fs.protocol[0] if isinstance(fs.protocol, (tuple, list)) else fs.protocol
    try:
        if protocol in ("gs", "gcs"):
            _gcs_replace(fs, path, data, info["generation"])
        elif protocol in ("s3", "s3a"):
            fs.pipe_file(path, data, IfMatch=info["ETag"])
        elif protocol in ("az", "abfs", "abfss"):
            from azure.core import MatchConditions

            fs.pipe_file(path, data, etag=info["etag"], match_condition=MatchConditions.IfNotModified)
        else:
            raise NotImplementedError(f"{protocol}:// has no conditional write hub_ops knows")
    except (FileNotFoundError, FileExistsError):  # gone (404) or not the version read (412)
        return False
    except OSError as e:  # s3fs turns 412 PreconditionFailed into EINVAL
        if "pre-condition" in str(e) or "precondition" in str(e).lower():
            return False
        raise
    except Exception as e:  # azure.core: ResourceModifiedError (412), ResourceNotFoundError (404)
        if type(e).__name__ in ("ResourceModifiedError", "ResourceNotFoundError"):
            return False
        raise
    finally:
        fs.invalidate_cache(path)
    return True


def _gcs_replace(fs, path: str, data: bytes, generation: str) -> None:
    """gcsfs has no conditional overwrite: a multipart upload with ifGenerationMatch, as
    gcsfs's own create-only upload sends it (a 412 comes back as FileExistsError)."""
    import json
    from urllib.parse import quote

    bucket, key, _ = fs.split_path(path)
    head = f"--==0==\nContent-Type: application/json; charset=UTF-8\n\n{json.dumps({'name': key})}\n"
    head += "--==0==\nContent-Type: application/octet-stream\n\n"
    fs.call(
        "POST",
        f"{fs._location}/upload/storage/v1/b/{quote(bucket)}/o",
        uploadType="multipart",
        ifGenerationMatch=str(generation),
        headers={"Content-Type": 'multipart/related; boundary="==0=="'},
        data=head.encode() + data + b"\n--==0==--",
        json_out=True,
    )
