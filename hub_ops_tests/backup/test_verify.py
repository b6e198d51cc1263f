"""Verify finds what is wrong with stored data and names the file it belongs to."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hub_ops.backup import BackupIntegrityError, create_snapshot, restore_snapshot, verify_snapshot
from hub_ops.backup.blobs import blob_key
from hub_ops.backup.packs import pack_key


def _location(repo, hub: str, snapshot_id: str, path: str) -> tuple[str, int, int]:
    """(object key, offset, stored size) of the content of `path` in the snapshot."""
    with repo.local_manifest(hub, snapshot_id) as manifest:
        rows = pq.read_table(manifest).to_pylist()
    row = next(r for r in rows if r["path"] == path.encode())
    if row["pack"] is None:
        return blob_key(row["digest"]), 0, row["stored_size"]
    return pack_key(row["pack"]), row["offset"], row["stored_size"]


def _homes(src: Path) -> None:
    (src / "ada" / "nb").mkdir(parents=True)
    (src / "ada" / "nb" / "thesis.ipynb").write_text("chapter one\n" * 500)
    (src / "ada" / "nb" / "other.py").write_text("print('hello')\n" * 40)
    (src / "bob").mkdir()
    (src / "bob" / "dataset.bin").write_bytes(os.urandom(3 << 20))  # a blob of its own


def _flip(repo, key: str, offset: int) -> None:
    data = bytearray(repo.store.read_bytes(key))
    data[offset] ^= 0x01
    repo.store.put_bytes(key, bytes(data))


@pytest.mark.parametrize("path", ["ada/nb/thesis.ipynb", "bob/dataset.bin"])
def test_deep_verify_finds_a_flipped_byte_and_names_the_file(repo, tmp_path, path):
    _homes(tmp_path / "src")
    s = create_snapshot(repo, "c/h", tmp_path / "src")
    assert verify_snapshot(repo, "c/h", deep=True).ok
    key, offset, stored = _location(repo, "c/h", s.id, path)
    _flip(repo, key, offset + stored // 2)
    shallow = verify_snapshot(repo, "c/h")
    assert shallow.ok, "sizes are unchanged: only reading the content can tell"
    deep = verify_snapshot(repo, "c/h", deep=True)
    assert len(deep.problems) == 1
    assert deep.problems[0].startswith(f"{path}: ")
    assert ("corrupt" in deep.problems[0] or "cannot be decoded" in deep.problems[0]) and key in deep.problems[0]
    with pytest.raises(BackupIntegrityError, match=path):
        deep.raise_for_problems()
    # a restore refuses to write the damaged content, naming the file too
    with pytest.raises(BackupIntegrityError, match=path):
        restore_snapshot(repo, "c/h", tmp_path / "out")


def test_missing_and_truncated_objects_are_found_without_reading_them(repo, tmp_path):
    _homes(tmp_path / "src")
    s = create_snapshot(repo, "c/h", tmp_path / "src")
    blob, _, _ = _location(repo, "c/h", s.id, "bob/dataset.bin")
    repo.store.delete(blob)
    pack, offset, stored = _location(repo, "c/h", s.id, "ada/nb/thesis.ipynb")
    data = repo.store.read_bytes(pack)
    repo.store.put_bytes(pack, data[: offset + stored - 1])
    problems = verify_snapshot(repo, "c/h").problems
    assert any(p.startswith("bob/dataset.bin: blob") and "is missing" in p for p in problems), problems
    assert any(p.startswith("ada/nb/thesis.ipynb: pack") and "too short" in p for p in problems), problems


def test_a_damaged_manifest_is_an_integrity_error_naming_it(repo, tmp_path):
    _homes(tmp_path / "src")
    s = create_snapshot(repo, "c/h", tmp_path / "src")
    key = repo.manifest_key("c/h", s.id)
    data = repo.store.read_bytes(key)
    repo.store.put_bytes(key, data[: len(data) // 2])
    with pytest.raises(BackupIntegrityError, match=f"{s.id}.parquet: manifest unreadable"):
        verify_snapshot(repo, "c/h", s.id)


def test_sampled_deep_verify_rehashes_a_fraction(repo, tmp_path):
    src = tmp_path / "src"
    for i in range(50):
        (src / "u").mkdir(parents=True, exist_ok=True)
        (src / "u" / f"f{i}").write_text(f"content {i}")
    create_snapshot(repo, "c/h", src)
    report = verify_snapshot(repo, "c/h", deep=True, sample=0.2, seed=1)
    assert report.contents == 50 and report.deep_checked == 10 and report.ok
