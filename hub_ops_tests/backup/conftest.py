"""Every engine test runs against each kind of destination: a local folder (file://) and
the object-store servers of the local stack: GCS (gs:// through gcsfs), S3 (moto, s3://
through s3fs) and Azure Blob (Azurite, az:// through adlfs). The S3 and Azure ones are
reached through the SDKs' standard environment (aws_env, azure_env), as in production."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from hub_ops.backup import Repository
from hub_ops.clients.storage import Storage


@dataclass
class Destination:
    kind: str
    url: str
    storage: Storage

    def repo(self) -> Repository:
        return Repository.open(self.url, self.storage)


KINDS = ["file", "gcs", "s3", "az"]
CLOUDS = KINDS[1:]


@pytest.fixture(params=KINDS)
def destination(request, tmp_path) -> Destination:
    return make_destination(request, tmp_path, request.param)


@pytest.fixture(params=CLOUDS)
def cloud_destination(request, tmp_path) -> Destination:
    """Only the object stores (for what a local folder does differently)."""
    return make_destination(request, tmp_path, request.param)


def make_destination(request, tmp_path, kind: str) -> Destination:
    if kind == "file":
        return Destination("file", f"file://{tmp_path}/dest", Storage())
    if kind == "gcs":
        storage = request.getfixturevalue("gcs_storage")
        return Destination("gcs", f"gs://{request.getfixturevalue('gcs_bucket')}/backups", storage)
    if kind == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        moto = request.getfixturevalue("aws_env")
        return Destination("s3", f"s3://{bucket}/backups", Storage(s3_endpoint=moto.endpoint))
    container = request.getfixturevalue("az_container")  # AZURE_STORAGE_CONNECTION_STRING is set
    return Destination("az", f"az://{container}/backups", Storage())


@pytest.fixture
def repo(destination) -> Repository:
    return destination.repo()


@pytest.fixture
def pack_ids_ending_in_00(monkeypatch):
    """Every new pack id ends in a 00 byte (1 pack in 256 does): the ids numpy's "S" fields
    would read back a byte short."""
    import hub_ops.backup.packs as packs

    real = packs.secrets.token_hex
    monkeypatch.setattr(
        packs, "secrets", type("Secrets", (), {"token_hex": staticmethod(lambda n: real(n)[:-2] + "00")})
    )
