"""Trees of homes for the usage tests, and their sizes measured by walking them (no hub_ops
code: what the manifests must agree with)."""

from __future__ import annotations

import os
from pathlib import Path


def write_homes(root: Path, sizes: dict[str, list[int]]) -> None:
    """Users' homes with files of the given sizes (appended to what is there), plus a file at
    the top level that is no one's home and a nested folder."""
    for user, files in sizes.items():
        home = root / user / "work" / "data"
        home.mkdir(parents=True, exist_ok=True)
        start = len(list(home.iterdir()))
        for i, size in enumerate(files, start):
            (home / f"f{i}.bin").write_bytes(os.urandom(size))
    (root / "README.txt").write_bytes(b"not a home\n")


def walk(root: Path) -> dict[str, tuple[int, int]]:
    """user -> (bytes, files) by walking the tree (independent of the manifest)."""
    out = {}
    for home in root.iterdir():
        if home.is_dir():
            files = [Path(d, f) for d, _, fs in os.walk(home) for f in fs]
            out[home.name] = (sum(p.lstat().st_size for p in files), len(files))
    return out


def total(root: Path) -> int:
    return sum(Path(d, f).lstat().st_size for d, _, fs in os.walk(root) for f in fs)
