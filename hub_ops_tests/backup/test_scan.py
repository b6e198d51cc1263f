"""The walk: manifest order, merged like sorted lists; parallel walkers change nothing."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings

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


def test_order_key_puts_a_folder_before_its_siblings_with_longer_names(tmp_path):
    for name in ("a", "a.txt", "a-b", "a0"):
        (tmp_path / name).mkdir()
    (tmp_path / "a" / "z").write_text("")
    assert _paths(tmp_path) == [b"a", b"a/z", b"a-b", b"a.txt", b"a0"]
