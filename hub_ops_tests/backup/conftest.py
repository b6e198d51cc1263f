"""Every engine test runs against both kinds of destination: a local folder (file://) and
the GCS server of the local stack (gs:// through gcsfs)."""

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


@pytest.fixture(params=["file", "gcs"])
def destination(request, tmp_path) -> Destination:
    if request.param == "file":
        return Destination("file", f"file://{tmp_path}/dest", Storage())
    storage = request.getfixturevalue("gcs_storage")
    bucket = request.getfixturevalue("gcs_bucket")
    return Destination("gcs", f"gs://{bucket}/backups", storage)


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
