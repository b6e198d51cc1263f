"""Which store a URL reaches: the local map of the default environment, or the server the SDKs'
standard variables name, through the real `hub-ops backup` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from azure.storage.blob import BlobServiceClient

from hub_ops.clients.storage import Storage
from hub_ops.settings import Settings

CLOUD_VARS = (
    "HUB_OPS_GCS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
)


def _homes(src: Path) -> None:
    (src / "ada").mkdir(parents=True)
    (src / "ada" / "notes.txt").write_text("hello from ada\n" * 100)
    (src / "bob").mkdir()
    (src / "bob" / "data.bin").write_bytes(os.urandom(2 << 20))  # a blob of its own


def _backup(dest: str, src: Path, data: Path, **env: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in CLOUD_VARS}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hub-ops"), "backup", "--hub", "c/h", "--source", str(src), "--dest", dest]
        + ["--json"],
        env={**base, "HUB_OPS_ENV": "local", "HUB_OPS_DATA": str(data), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("url", "folder"),
    [
        ("gs://bkt/pre", "gcs/bkt/pre"),
        ("s3://bkt/pre", "s3/bkt/pre"),
        ("az://ctr/pre", "az/ctr/pre"),
        ("abfs://ctr/pre", "az/ctr/pre"),
    ],
)
def test_the_local_default_maps_every_cloud_under_the_data_dir(tmp_path, url, folder):
    storage = Storage.from_settings(Settings.from_environ({"HUB_OPS_DATA": str(tmp_path)}))
    assert storage.resolve(url) == f"file://{tmp_path}/{folder}"
    assert storage.resolve("relative/dir") == "file://" + str(Path("relative/dir").resolve())


def test_each_service_goes_to_the_server_its_standard_variable_names(tmp_path):
    environ = {"HUB_OPS_DATA": str(tmp_path), "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "eu-west-1"}
    storage = Storage.from_settings(Settings.from_environ(environ))
    assert storage.resolve("s3://bkt/pre") == "s3://bkt/pre"
    assert storage.storage_options("s3://bkt/pre") == {
        "use_listings_cache": False,
        "endpoint_url": "http://127.0.0.1:9",
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    assert storage.resolve("az://ctr/pre").startswith(f"file://{tmp_path}/az/")  # Azure not configured
    conn = "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=S3cr3tKeyValue==;BlobEndpoint=http://127.0.0.1:9/a;"
    settings = Settings.from_environ({"HUB_OPS_DATA": str(tmp_path), "AZURE_STORAGE_CONNECTION_STRING": conn})
    storage = Storage.from_settings(settings)
    assert storage.resolve("az://ctr/pre") == "az://ctr/pre"
    # the secret is read by adlfs itself: it is in neither the settings nor the storage
    assert "S3cr3tKeyValue" not in repr(settings) + repr(storage) + repr(storage.storage_options("az://ctr/pre"))


def test_production_sends_every_cloud_url_to_its_cloud():
    storage = Storage.from_settings(Settings.from_environ({"HUB_OPS_ENV": "production"}))
    for url in ("gs://b/p", "s3://b/p", "az://c/p", "abfs://c/p"):
        assert storage.resolve(url) == url
    assert storage.public_url("s3://b/p/x.json") == "https://s3.console.aws.amazon.com/s3/object/b?prefix=p/x.json"


def test_backup_command_to_s3_without_cloud_settings_writes_the_local_map(tmp_path):
    _homes(tmp_path / "src")
    summary = _backup("s3://homes-bucket/backups", tmp_path / "src", tmp_path / "data")
    manifest = (
        tmp_path / "data" / "s3" / "homes-bucket" / "backups" / "snapshots" / "c" / "h" / f"{summary['id']}.parquet"
    )
    assert manifest.is_file()


def test_backup_command_reaches_any_s3_server_from_the_standard_environment(aws_env, s3_bucket, tmp_path):
    _homes(tmp_path / "src")
    summary = _backup(f"s3://{s3_bucket}/backups", tmp_path / "src", tmp_path / "data", **aws_env.env())
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert f"backups/snapshots/c/h/{summary['id']}.parquet" in keys
    assert any(k.startswith("backups/blobs/") for k in keys)  # bob's 2 MiB file
    assert not (tmp_path / "data" / "s3").exists()


def test_backup_command_reaches_azure_blob_from_the_standard_environment(azure_env, az_container, tmp_path):
    _homes(tmp_path / "src")
    summary = _backup(f"az://{az_container}/backups", tmp_path / "src", tmp_path / "data", **azure_env.env())
    service = BlobServiceClient.from_connection_string(azure_env.connection_string)
    names = [b.name for b in service.get_container_client(az_container).list_blobs()]
    assert f"backups/snapshots/c/h/{summary['id']}.parquet" in names
    assert any(n.startswith("backups/blobs/") for n in names)
    assert not (tmp_path / "data" / "az").exists()
