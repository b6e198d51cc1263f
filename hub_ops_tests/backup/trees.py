"""Trees of home directories for tests: hypothesis strategies, a writer, and a reader that
captures everything a restore must reproduce (type, mode, mtime, content, link target)."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

from hypothesis import strategies as st

# names: any bytes but '/' and NUL (POSIX), plus a few troublemakers and unicode
_ODD = [
    b" ",
    b"-",
    b"--x",
    b".hidden",
    b"a b",
    b"\xe2\x98\x83",
    b"\xf0\x9f\x93\x93 notes",
    b"caf\xc3\xa9",
    b"\xff\xfe-not-utf8",
    b"new\nline",
    b"tab\there",
    b"quote'\"",
    b"back\\slash",
    b"*?[glob]",
    b"..dots",
    b"~",
]


def _valid(name: bytes) -> bool:
    return bool(name) and name not in (b".", b"..") and b"/" not in name and b"\x00" not in name and len(name) <= 60


names = st.one_of(
    st.sampled_from(_ODD),
    st.binary(min_size=1, max_size=12).filter(_valid),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="/\x00"), min_size=1, max_size=12)
    .map(lambda s: s.encode())
    .filter(_valid),
)

# a file: ("file", data or (seed, size) for large ones, mode, mtime_ns)
_mtimes = st.integers(min_value=0, max_value=2_000_000_000 * 10**9)
_file_modes = st.sampled_from([0o644, 0o600, 0o755, 0o400, 0o666, 0o4755, 0o2750, 0o777])
_small = st.one_of(
    st.just(b""),
    st.binary(max_size=2000),
    st.sampled_from([b"same content in many places\n", b"\x28\xb5\x2f\xfdlooks like zstd", b"x" * 5000]),
)
_large = st.tuples(st.integers(0, 2**32), st.sampled_from([1 << 20, (1 << 20) + 1, 3 << 20, (8 << 20) + 7]))
files = st.tuples(st.just("file"), st.one_of(_small, _small, _small, _large), _file_modes, _mtimes)
links = st.tuples(
    st.just("link"),
    st.one_of(names, st.builds(lambda a, b: a + b"/" + b, names, names), st.just(b"../sibling")),
    _mtimes,
)


def _dir(children):
    return st.tuples(
        st.just("dir"), st.dictionaries(names, children, max_size=5), st.sampled_from([0o755, 0o700, 0o750]), _mtimes
    )


entries = st.recursive(st.one_of(files, files, links), _dir, max_leaves=25)
# a homes folder: a few users, each a folder
homes = st.dictionaries(st.one_of(names, st.sampled_from([b"alice", b"bob"])), _dir(entries), min_size=1, max_size=3)


def large_content(seed: int, size: int) -> bytes:
    """Half noise, half text: exercises both raw and compressed storage."""
    rng = random.Random(seed)
    half = size // 2
    return rng.randbytes(half) + (b"measurement %d\n" % seed * (size // 14 + 1))[: size - half]


def write_tree(root: Path, tree: dict) -> None:
    """Create `tree` (name -> entry) under `root`, modes and mtimes last (deepest first)."""
    root = os.fsencode(root)
    os.makedirs(root, exist_ok=True)
    dirs: list[tuple[bytes, int, int]] = []

    def write(parent: bytes, children: dict) -> None:
        for name, entry in children.items():
            path = parent + b"/" + name
            kind = entry[0]
            if kind == "file":
                _, data, mode, mtime = entry
                if isinstance(data, tuple):
                    data = large_content(*data)
                with open(path, "wb") as f:
                    f.write(data)
                os.chmod(path, mode)
                os.utime(path, ns=(mtime, mtime))
            elif kind == "link":
                _, target, mtime = entry
                os.symlink(target, path)
                os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
            else:
                _, sub, mode, mtime = entry
                os.mkdir(path)
                write(path, sub)
                dirs.append((path, mode, mtime))

    write(root, tree)
    for path, mode, mtime in dirs:  # children were appended before their parents
        os.chmod(path, mode)
        os.utime(path, ns=(mtime, mtime))


def read_tree(root: Path) -> dict[bytes, tuple]:
    """Relative path -> (kind, mode, mtime_ns, content or link target) for everything under
    `root`: what a byte-identical restore must reproduce."""
    base = os.fsencode(root)
    out: dict[bytes, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, base)
            st_ = os.lstat(path)
            if stat.S_ISLNK(st_.st_mode):
                out[rel] = ("link", st_.st_mode, st_.st_mtime_ns, os.readlink(path))
            elif stat.S_ISDIR(st_.st_mode):
                out[rel] = ("dir", st_.st_mode, st_.st_mtime_ns, None)
            else:
                with open(path, "rb") as f:
                    out[rel] = ("file", st_.st_mode, st_.st_mtime_ns, f.read())
    return out


def diff_trees(expected: dict, actual: dict) -> list[str]:
    """Readable differences (empty when identical)."""
    problems = []
    for path in sorted(set(expected) | set(actual)):
        a, b = expected.get(path), actual.get(path)
        if a is None:
            problems.append(f"unexpected {path!r}")
        elif b is None:
            problems.append(f"missing {path!r}")
        elif a != b:
            fields = [n for n, x, y in zip(("kind", "mode", "mtime", "content"), a, b) if x != y]
            problems.append(f"{path!r}: {', '.join(fields)} differ")
    return problems
