"""Azurite of the local stack answers as Azure Blob does, to the official SDK and to adlfs."""

from __future__ import annotations

import os

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient

from hub_ops_dev.stack import azurite
from hub_ops_dev.stack.azurite import AzuriteServer
from hub_ops_dev.stack.process import StackError


def test_blob_round_trip_and_etag_conditions(azure_env: AzuriteServer, az_container: str) -> None:
    # the standard variable alone is enough for the SDK
    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    blob = service.get_blob_client(az_container, "homes/ada/notes.txt")
    first = blob.upload_blob(b"hello")
    assert blob.download_blob().readall() == b"hello"
    blob.upload_blob(b"again", overwrite=True)
    # a write conditioned on the first ETag is refused now that the blob changed
    with pytest.raises(ResourceModifiedError):
        blob.upload_blob(b"late", overwrite=True, etag=first["etag"], match_condition=MatchConditions.IfNotModified)
    blob.delete_blob()
    with pytest.raises(ResourceNotFoundError):
        blob.download_blob().readall()


def test_adlfs_lists_and_reads_through_it(azure_env: AzuriteServer, az_container: str) -> None:
    import adlfs

    fs = adlfs.AzureBlobFileSystem(connection_string=azure_env.connection_string)
    for i in range(30):
        fs.pipe_file(f"{az_container}/many/{i:03d}", str(i).encode())
    found = sorted(p.rsplit("/", 1)[1] for p in fs.find(f"{az_container}/many"))
    assert found == [f"{i:03d}" for i in range(30)]
    assert fs.cat_file(f"{az_container}/many/007") == b"7"


def test_without_npm_the_error_says_what_to_install(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HUB_OPS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(StackError, match=r"npm not found.*apt-get install npm"):
        azurite.ensure_azurite(log=lambda _: None)
    assert not azurite.azurite_bin().exists()


def test_the_cached_install_is_reused(monkeypatch) -> None:
    """The shared cache (prepare installed it) is found without calling npm."""
    monkeypatch.setattr(azurite.subprocess, "run", lambda *a, **k: pytest.fail("npm ran although cached"))
    assert azurite.ensure_azurite(log=lambda _: None) == azurite.azurite_bin()
    assert azurite.azurite_bin().exists()
