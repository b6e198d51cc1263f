"""Restore: whole, one user, globs; reruns; and never a write outside the target."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import hypothesis
import hypothesis.strategies as st
import pyarrow as pa
import pytest

from hub_ops.backup import BackupError, RestoreRefusedError, create_snapshot, restore_snapshot
from hub_ops.backup import restore as restore_module
from hub_ops.backup.manifest import SCHEMA, ManifestWriter, SnapshotSummary
from hub_ops.backup.repository import new_snapshot_id
from hub_ops_tests.backup.trees import diff_trees, read_tree


def _homes(src: Path) -> None:
    for user in ("ada", "bob"):
        (src / user / "nb").mkdir(parents=True)
        (src / user / "nb" / "a.ipynb").write_text(f"{user}'s notebook\n")
        (src / user / "data.csv").write_text("x,y\n")
    os.symlink("nb/a.ipynb", src / "ada" / "latest")


def test_one_user(repo, tmp_path):
    _homes(tmp_path / "src")
    create_snapshot(repo, "c/h", tmp_path / "src")
    report = restore_snapshot(repo, "c/h", tmp_path / "out", user="ada")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ada"]
    assert diff_trees(read_tree(tmp_path / "src" / "ada"), read_tree(tmp_path / "out" / "ada")) == []
    assert report.files == 2 and report.symlinks == 1
    with pytest.raises(BackupError, match="has no user 'zed'"):
        restore_snapshot(repo, "c/h", tmp_path / "out2", user="zed")


def test_path_globs_select_entries_and_everything_below(repo, tmp_path):
    _homes(tmp_path / "src")
    create_snapshot(repo, "c/h", tmp_path / "src")
    restore_snapshot(repo, "c/h", tmp_path / "out", globs=["*/nb", "bob/*.csv"])
    found = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert found == ["ada/nb/a.ipynb", "bob/data.csv", "bob/nb/a.ipynb"]


def test_rerun_skips_what_is_there_and_replaces_what_differs(repo, tmp_path):
    _homes(tmp_path / "src")
    create_snapshot(repo, "c/h", tmp_path / "src")
    out = tmp_path / "out"
    restore_snapshot(repo, "c/h", out)
    (out / "bob" / "data.csv").write_text("changed since\n")
    st = (out / "bob" / "data.csv").stat()  # older than the snapshot's copy (newer ones are kept: below)
    os.utime(out / "bob" / "data.csv", ns=(st.st_atime_ns, st.st_mtime_ns - 10**12))
    (out / "bob" / "extra.txt").write_text("not in the snapshot")
    again = restore_snapshot(repo, "c/h", out)
    assert again.files == 1 and again.already_there == 4  # 3 files and the symlink
    assert (out / "bob" / "data.csv").read_text() == "x,y\n"
    assert (out / "bob" / "extra.txt").exists(), "a restore deletes nothing"
    assert not [p for p in out.rglob(".hub-ops-restore-*")]


def _crafted(repo, hub: str, rows: list[dict]) -> str:
    """Publish a snapshot whose manifest holds `rows` (as a tampered destination would)."""
    sid = new_snapshot_id()
    local = Path(tempfile.mkdtemp()) / "manifest.parquet"
    full = [
        {
            **{name: None for name in SCHEMA.names},
            "size": 0,
            "mtime_ns": 0,
            "ctime_ns": 0,
            "mode": 0o40755,
            "uid": 0,
            "gid": 0,
            "ino": 0,
            **r,
        }
        for r in rows
    ]
    writer = ManifestWriter(str(local))
    writer.write(pa.Table.from_pylist(full, schema=SCHEMA))
    writer.close(SnapshotSummary(id=sid, hub=hub, created="2026-01-01T00:00:00+00:00", parent=None, source="/x"))
    repo.store.put_file(repo.manifest_key(hub, sid), str(local))
    shutil.rmtree(local.parent)
    return sid


@pytest.mark.parametrize(
    "path,link,why",
    [
        (b"../evil", None, "would leave its folder"),
        (b"u/../../evil", None, "would leave its folder"),
        (b"/etc/evil", None, "absolute path"),
        (b"u/./x", None, "would leave its folder"),
        (b"u/escape", b"/etc", "symlink pointing outside the target"),
        (b"u/escape", b"../../outside", "symlink pointing outside the target"),
    ],
)
def test_traversal_is_refused_before_anything_is_written(repo, tmp_path, path, link, why):
    rows = [{"path": b"u", "type": "d"}]
    rows.append(
        {"path": path, "type": "l" if link else "d", "link_target": link, "mode": 0o120777 if link else 0o40755}
    )
    sid = _crafted(repo, "c/h", rows)
    (tmp_path / "target").mkdir()
    out = tmp_path / "target" / "out"
    with pytest.raises(RestoreRefusedError, match=why) as e:
        restore_snapshot(repo, "c/h", out, sid)
    assert os.fsdecode(path) in str(e.value)
    assert not out.exists() or not any(out.iterdir()), "nothing written"
    assert sorted(p.name for p in (tmp_path / "target").iterdir()) in ([], ["out"])
    # --skip-refused restores the rest and still reports the refusal
    report = restore_snapshot(repo, "c/h", out, sid, skip_refused=True)
    assert len(report.refused) == 1 and (out / "u").is_dir()
    assert not (tmp_path / "target" / "evil").exists() and not Path("/etc/evil").exists()


def test_entries_below_a_symlink_of_the_snapshot_are_refused(repo, tmp_path):
    sid = _crafted(
        repo,
        "c/h",
        [
            {"path": b"u", "type": "d"},
            {"path": b"u/link", "type": "l", "link_target": b"sub", "mode": 0o120777},
            {"path": b"u/link/file", "type": "d"},
        ],
    )
    with pytest.raises(RestoreRefusedError, match="below the symlink u/link"):
        restore_snapshot(repo, "c/h", tmp_path / "out", sid)


@pytest.mark.parametrize("links", [1, 70], ids=["few links", "more links than the fast check takes"])
def test_entries_below_any_symlink_are_refused_wherever_it_is_listed(repo, tmp_path, links):
    rows = [
        {"path": b"u", "type": "d"},
        {"path": b"u/link/deep/file", "type": "f", "mode": 0o100644},
        {"path": b"u/ok.txt", "type": "f", "mode": 0o100644},
    ]
    rows += [
        {"path": f"u/link{i or ''}".encode(), "type": "l", "link_target": b"sub", "mode": 0o120777}
        for i in range(links)
    ]  # listed after the entry below it
    sid = _crafted(repo, "c/h", rows)
    with pytest.raises(RestoreRefusedError, match="u/link/deep/file: below the symlink u/link ") as e:
        restore_snapshot(repo, "c/h", tmp_path / "out", sid)
    assert e.value.refused == ["u/link/deep/file: below the symlink u/link of the same snapshot"]


def test_a_selection_whose_entries_are_all_refused_is_not_called_empty(repo, tmp_path):
    sid = _crafted(repo, "c/h", [{"path": b"u", "type": "d"}, {"path": b"u/../x", "type": "d"}])
    report = restore_snapshot(repo, "c/h", tmp_path / "out", sid, user="u", skip_refused=True)
    assert report.refused == ["u/../x: path component '..' would leave its folder"]
    with pytest.raises(BackupError, match="has no user 'v'"):
        restore_snapshot(repo, "c/h", tmp_path / "out", sid, user="v", skip_refused=True)


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(st.binary(max_size=12).map(lambda b: bytes(b"a./\x00"[x % 4] for x in b)))
def test_the_quick_path_check_refuses_exactly_what_the_full_one_does(path):
    assert (restore_module._ODD_PATH.search(path) is not None) == (restore_module._refusal(path) is not None)


def test_a_symlink_already_in_the_target_is_never_written_through(repo, tmp_path):
    _homes(tmp_path / "src")
    create_snapshot(repo, "c/h", tmp_path / "src")
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(outside, out / "bob")  # someone planted a link where a home goes
    with pytest.raises(RestoreRefusedError, match="bob in the target is a symlink"):
        restore_snapshot(repo, "c/h", out)
    assert list(outside.iterdir()) == [], "nothing written through the link"
    assert (out / "ada" / "nb" / "a.ipynb").read_text() == "ada's notebook\n"


def test_unknown_snapshot_and_user_errors_say_what_exists(repo, tmp_path):
    _homes(tmp_path / "src")
    s = create_snapshot(repo, "c/h", tmp_path / "src")
    with pytest.raises(BackupError, match=f"latest: {s.id}"):
        restore_snapshot(repo, "c/h", tmp_path / "out", "20200101")
    with pytest.raises(BackupError, match="expected the name of one home folder"):
        restore_snapshot(repo, "c/h", tmp_path / "out", user="../bob")


@pytest.mark.parametrize("processes", [0, 2])
def test_files_newer_in_the_target_are_kept_unless_asked(repo, tmp_path, processes):
    """Keep-newer: a file edited after the snapshot (a later mtime) is somebody's work; a
    restore leaves it and lists it. An older or equal-time differing file is replaced.
    Worker processes (local destinations) keep the same rule."""
    if processes and not repo.store.is_local:
        processes = 0  # worker processes read local packs only
    _homes(tmp_path / "src")
    create_snapshot(repo, "c/h", tmp_path / "src")
    out = tmp_path / "out"
    restore_snapshot(repo, "c/h", out, processes=processes)
    newer, older = out / "ada" / "nb" / "a.ipynb", out / "bob" / "data.csv"
    newer.write_text("ada's edit after the backup\n")
    older.write_text("stale\n")
    st = older.stat()
    os.utime(older, ns=(st.st_atime_ns, st.st_mtime_ns - 10**12))
    report = restore_snapshot(repo, "c/h", out, processes=processes)
    assert report.kept_newer == ["ada/nb/a.ipynb"]
    assert newer.read_text() == "ada's edit after the backup\n"
    assert older.read_text() == "x,y\n"
    report = restore_snapshot(repo, "c/h", out, users=["ada", "bob"], overwrite_newer=True, processes=processes)
    assert report.kept_newer == [] and newer.read_text() == "ada's notebook\n"
    assert diff_trees(read_tree(tmp_path / "src"), read_tree(out)) == []
