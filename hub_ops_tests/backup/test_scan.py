"""The walk: manifest order, merged like sorted lists; parallel walkers change nothing."""

from __future__ import annotations

import os
import stat
import tracemalloc

from hypothesis import HealthCheck, given, settings

from hub_ops.backup import parallel_walk
from hub_ops.backup.parallel_walk import walk_chunks_parallel
from hub_ops.backup.scan import order_key, walk_chunks
from hub_ops_tests.backup.trees import homes, write_tree


def _paths(root, **kw) -> list[bytes]:
    return [p for c in walk_chunks(root, **kw) for p in c.paths]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=homes)
def test_walk_order_is_the_order_key_order_whatever_the_threads(tmp_path_factory, tree):
    root = tmp_path_factory.mktemp("walk")
    write_tree(root, tree)
    one = _paths(root, chunk_size=7)
    assert one == sorted(one, key=order_key), "merge-joins rely on this order"
    expected = sorted(
        os.path.relpath(os.path.join(d, n), os.fsencode(root))
        for d, dirs, files in os.walk(os.fsencode(root))
        for n in dirs + files
    )
    assert sorted(one) == expected
    assert _paths(root, chunk_size=3, threads=3) == one
    assert _paths(root, chunk_size=10000, threads=2) == one
    # a lookahead of one entry: the reader runs most tasks itself, the order holds
    tiny = walk_chunks_parallel(os.fsencode(root), 5, 4, lookahead=1)
    assert [p for c in tiny for p in c.paths] == one


def test_order_key_puts_a_folder_before_its_siblings_with_longer_names(tmp_path):
    for name in ("a", "a.txt", "a-b", "a0"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "z").write_text("")
    assert _paths(tmp_path) == [b"a", b"a/z", b"a-b", b"a.txt", b"a0"]


def _everything(chunks) -> tuple:
    """All a walk reports, flattened: paths with their lstat fields and link targets,
    skipped counts, unreadable paths."""
    entries, skipped, unreadable = [], {}, []
    for c in chunks:
        for i, (p, st) in enumerate(zip(c.paths, c.stats)):
            entries.append((p, st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, c.links.get(i)))
        for kind, n in c.skipped.items():
            skipped[kind] = skipped.get(kind, 0) + n
        unreadable += c.unreadable
    return entries, skipped, unreadable


def test_parallel_walk_reports_what_one_thread_does_on_wide_deep_and_odd_trees(tmp_path):
    wide = tmp_path / "ada" / "wide"  # more names than one lstat batch: spread over workers
    wide.mkdir(parents=True)
    for i in range(5 * parallel_walk.BATCH + 3):
        (wide / f"f{i:04d}").write_bytes(b"x" * i)
    deep = tmp_path / "bob"
    for depth in range(12):
        deep = deep / f"d{depth}"
        deep.mkdir(parents=True)
        (deep / "note").write_text(str(depth))
    (tmp_path / "bob" / "empty").mkdir()
    (tmp_path / "cy").mkdir()
    os.symlink("../ada/wide/f0001", tmp_path / "cy" / "link")
    os.symlink("/nowhere", tmp_path / "cy" / "dangling")
    os.mkfifo(tmp_path / "cy" / "pipe")
    (tmp_path / "top-level file").write_text("not a home")

    expected = _everything(walk_chunks(tmp_path, chunk_size=50))
    entries, skipped, unreadable = expected
    # ada, ada/wide and its files; bob, 12 folders and notes, bob/empty; cy, its 2 links; a file
    assert len(entries) == 2 + (5 * parallel_walk.BATCH + 3) + 1 + 24 + 1 + 1 + 2 + 1
    assert skipped == {"fifo": 1} and unreadable == []
    assert {p: t for p, *_, t in entries if t} == {b"cy/dangling": b"/nowhere", b"cy/link": b"../ada/wide/f0001"}
    for threads, lookahead in ((8, 16384), (3, 1), (32, 40)):
        got = _everything(walk_chunks_parallel(os.fsencode(tmp_path), 50, threads, lookahead=lookahead))
        assert got == expected, (threads, lookahead)
    assert stat.S_ISDIR(entries[0][1]) and entries[0][0] == b"ada"


def test_parallel_walk_memory_is_bounded_by_its_lookahead_not_the_tree(tmp_path):
    """Walked and dropped chunk by chunk, a 12k-entry tree peaks far below what holding its
    entries takes: the lookahead (512 entries) and the workers' batches bound it."""
    for f in range(120):
        folder = tmp_path / f"user{f:03d}" / "work"
        folder.mkdir(parents=True)
        for i in range(100):
            (folder / f"file{i:03d}.txt").touch()

    def peak(keep: list | None) -> int:
        tracemalloc.start()
        try:
            for chunk in walk_chunks_parallel(os.fsencode(tmp_path), 256, 8, lookahead=512):
                if keep is not None:
                    keep.append(chunk)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    kept: list = []
    holding_all = peak(kept)
    assert sum(len(c) for c in kept) == 120 * 102
    del kept
    streaming = peak(None)
    # measured: ~0.8 MB streaming (1.4 MB at worst) against ~8 MB holding the entries
    assert streaming < holding_all / 3, (streaming, holding_all)
