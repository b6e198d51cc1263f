"""The GCS server is real: gcsfs uploads resumably, lists, reads back through it."""

import os

import pytest


def test_resumable_upload_of_20_mb_round_trips(gcs_storage, gcs_bucket):
    fs, path = gcs_storage.filesystem(f"gs://{gcs_bucket}/big/blob.bin")
    data = os.urandom(20 * 1024 * 1024)
    # gcsfs switches to a resumable upload session above its block size (5 MiB by default)
    with fs.open(path, "wb", block_size=5 * 1024 * 1024) as f:
        for i in range(0, len(data), 1024 * 1024):
            f.write(data[i : i + 1024 * 1024])
    assert fs.info(path)["size"] == len(data)
    assert fs.cat(path) == data


def test_listing_1000_objects(gcs_storage, gcs_bucket):
    fs, root = gcs_storage.filesystem(f"gs://{gcs_bucket}/many")
    fs.pipe({f"{root}/{i:04d}.txt": str(i).encode() for i in range(1000)})
    names = fs.ls(root, detail=False)
    assert len(names) == 1000
    assert names[0].endswith("0000.txt") and names[-1].endswith("0999.txt")
    assert fs.cat(f"{root}/0742.txt") == b"742"


def test_missing_object_is_a_real_404(gcs_storage, gcs_bucket):
    fs, path = gcs_storage.filesystem(f"gs://{gcs_bucket}/nothing-here")
    with pytest.raises(FileNotFoundError):
        fs.cat(path)
