"""hub-ops backup | snapshots | verify | restore | prune, end to end through the CLI, on a
local folder and on the GCS server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from hub_ops.cli import main
from hub_ops_tests.cli.imports import HEAVY, heavy_imports


@pytest.fixture(params=["file", "gcs"])
def dest(request, tmp_path, monkeypatch) -> str:
    monkeypatch.delenv("HUB_OPS_GCS_ENDPOINT", raising=False)
    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    if request.param == "file":
        return str(tmp_path / "dest")
    server = request.getfixturevalue("gcs_server")
    bucket = request.getfixturevalue("gcs_bucket")
    monkeypatch.setenv("HUB_OPS_GCS_ENDPOINT", server.endpoint)
    return f"gs://{bucket}/backups"


def _homes(src: Path) -> None:
    for user in ("ada", "bob"):
        (src / user).mkdir(parents=True)
        (src / user / "notes.md").write_text(f"# {user}\n" * 300)
    (src / "bob" / "data.bin").write_bytes(os.urandom(2 << 20))


def run(*args: str, fleet: Path | None = None, env: dict | None = None):
    base = ["--fleet", str(fleet)] if fleet else ["--fleet", "/nonexistent-fleet"]
    return CliRunner().invoke(main, [*base, *args], env=env, catch_exceptions=False)


def test_backup_list_verify_restore_prune(dest, tmp_path):
    src = tmp_path / "src"
    _homes(src)
    first = run("backup", "--hub", "c/h", "--source", str(src), "--dest", dest)
    assert first.exit_code == 0, first.output
    assert "snapshot " in first.output and "3 files" in first.output
    (src / "bob" / "data.bin").write_bytes(os.urandom(2 << 20))  # a blob of its own: prunable
    second = run("backup", "--hub", "c/h", "--source", str(src), "--dest", dest, "--json")
    summary = json.loads(second.stdout)
    assert summary["hashed_files"] == 1 and summary["files"] == 3

    listing = run("snapshots", "--hub", "c/h", "--dest", dest)
    assert listing.exit_code == 0 and listing.output.count("\n") == 3 and summary["id"] in listing.output

    ok = run("verify", "--hub", "c/h", "--dest", dest, "--deep")
    assert ok.exit_code == 0 and ok.output.startswith("ok: snapshot " + summary["id"])

    out = tmp_path / "out"
    restored = run(
        "restore", "--hub", "c/h", "--dest", dest, "--snapshot", "latest", "--user", "bob", "--target", str(out)
    )
    assert restored.exit_code == 0, restored.output
    assert (out / "bob" / "data.bin").read_bytes() == (src / "bob" / "data.bin").read_bytes()
    assert not (out / "ada").exists()

    pruned = run("prune", "--hub", "c/h", "--dest", dest, "--keep-last", "1", "--grace", "0")
    assert pruned.exit_code == 0, pruned.output
    assert "kept 1 snapshot(s), forgot 1" in pruned.output and "deleted 1 blob(s) and 0 pack(s)" in pruned.output


def test_verify_exits_1_naming_the_damaged_file(dest, tmp_path):
    _homes(tmp_path / "src")
    assert run("backup", "--hub", "c/h", "--source", str(tmp_path / "src"), "--dest", dest).exit_code == 0
    from hub_ops.backup import Repository
    from hub_ops.backup.packs import pack_key
    from hub_ops.clients.storage import storage_from_env

    repo = Repository.open(dest, storage_from_env())
    sid = repo.resolve("c/h")
    with repo.local_manifest("c/h", sid) as manifest:
        row = next(r for r in pq.read_table(manifest).to_pylist() if r["path"] == b"ada/notes.md")
    key = pack_key(row["pack"])
    data = bytearray(repo.store.read_bytes(key))
    data[row["offset"] + 5] ^= 0xFF
    repo.store.put_bytes(key, bytes(data))
    shallow = run("verify", "--hub", "c/h", "--dest", dest)
    assert shallow.exit_code == 0
    deep = run("verify", "--hub", "c/h", "--dest", dest, "--deep")
    assert deep.exit_code == 1
    assert "ada/notes.md: pack" in deep.stderr and "1 problem(s)" in deep.stderr


def test_fleet_gives_source_destination_and_retention(example_fleet, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_OPS_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("HUB_OPS_GCS_ENDPOINT", raising=False)
    homes = (example_fleet / "../.data/homes/local-demo/staging").resolve()  # home.local_path
    _homes(homes)
    done = run("backup", "--hub", "local-demo/staging", fleet=example_fleet)
    assert done.exit_code == 0, done.output
    # fleet.yaml: gs://example-fleet-backups, mapped under HUB_OPS_DATA locally
    assert list((tmp_path / "data" / "gcs" / "example-fleet-backups" / "snapshots" / "local-demo").iterdir())
    pruned = run("prune", "--hub", "local-demo/staging", "--dry-run", fleet=example_fleet)
    assert pruned.exit_code == 0 and "(7 daily, 4 weekly, 12 monthly)" in pruned.output


def test_errors_are_one_clear_line(tmp_path):
    missing = run("backup", "--hub", "c/h", "--source", str(tmp_path / "nope"), "--dest", str(tmp_path / "d"))
    assert missing.exit_code == 1 and "nope: not a folder" in missing.stderr
    bad_hub = run("snapshots", "--hub", "../etc", "--dest", str(tmp_path / "d"))
    assert bad_hub.exit_code == 2 and "expected CLUSTER/HUB" in bad_hub.output
    nothing = run("restore", "--hub", "c/h", "--dest", str(tmp_path / "d"), "--target", str(tmp_path / "o"))
    assert nothing.exit_code == 1 and "no snapshots of c/h" in nothing.stderr
    no_dest = run("snapshots", "--hub", "c/h")
    assert no_dest.exit_code == 2 and "--dest is required" in no_dest.output


def test_progress_bar_on_a_terminal_only(tmp_path):
    _homes(tmp_path / "src")
    args = ("backup", "--hub", "c/h", "--source", str(tmp_path / "src"), "--dest", str(tmp_path / "d"))
    plain = run(*args, env={"FORCE_COLOR": None, "TTY_COMPATIBLE": None})
    assert plain.exit_code == 0 and "\x1b[" not in plain.stderr
    tty = run(*args, env={"TTY_COMPATIBLE": "1", "FORCE_COLOR": "1"})
    assert tty.exit_code == 0 and "\x1b[" in tty.stderr  # rich drew (and cleared) its bar


def test_restore_keeps_newer_files_unless_given_a_reason(dest, tmp_path):
    src = tmp_path / "src"
    _homes(src)
    assert run("backup", "--hub", "c/h", "--source", str(src), "--dest", dest).exit_code == 0
    (src / "ada" / "notes.md").write_text("ada's work since the backup\n")  # restore in place: newer
    args = ("restore", "--hub", "c/h", "--dest", dest, "--user", "ada", "--user", "bob", "--target", str(src))
    kept = run(*args)
    assert kept.exit_code == 0, kept.output
    assert "1 file(s) kept: newer in the target than in the snapshot" in kept.output and "ada/notes.md" in kept.output
    assert (src / "ada" / "notes.md").read_text() == "ada's work since the backup\n"
    replaced = run(*args, "--overwrite-newer-reason", "ada asked for last night's copy")
    assert replaced.exit_code == 0, replaced.output
    assert "overwrote newer files: ada asked for last night's copy" in replaced.output
    assert (src / "ada" / "notes.md").read_text() == "# ada\n" * 300


# what a backup pod's commands must not load, beyond HEAVY (each measured at 0.05-0.3 s of
# a process start): pyarrow.compute's ~300 kernel wrappers, numpy.ma (np.unique of records
# loads it), rich without a terminal, fsspec for a local destination
ENGINE_FORBIDDEN = (*HEAVY, "pyarrow.compute", "pyarrow.dataset", "numpy.ma", "rich", "fsspec")


def test_backup_commands_import_only_what_they_use(tmp_path):
    """What a backup pod pays at start-up: backup, verify and restore load the engine
    (pyarrow, numpy) and nothing else listed; snapshots reads JSON summaries, no arrow."""
    src, dest = tmp_path / "src", str(tmp_path / "dest")
    _homes(src)
    hub = ["--hub", "c/h", "--dest", dest]
    fleet = ["--fleet", "/nonexistent-fleet"]
    first = [[*fleet, "backup", *hub, "--source", str(src)]]
    assert heavy_imports(first, ENGINE_FORBIDDEN)[0] == []  # a first backup: every file read
    (src / "ada" / "notes.md").write_text("changed")
    argv = [
        [*fleet, "backup", *hub, "--source", str(src), "--json"],  # one file changed
        [*fleet, "backup", *hub, "--source", str(src), "--json"],  # nothing changed
        [*fleet, "verify", *hub, "--deep"],
        [*fleet, "restore", *hub, "--target", str(tmp_path / "out")],
    ]
    heavy, output = heavy_imports(argv, ENGINE_FORBIDDEN)
    assert heavy == []
    hashed = [json.loads(line)["hashed_files"] for line in output.splitlines() if line.startswith("{")]
    assert hashed == [1, 0]  # the commands did run: the change was read, then nothing
    assert (tmp_path / "out" / "ada" / "notes.md").read_text() == "changed"
    heavy, output = heavy_imports([[*fleet, "snapshots", *hub]], (*ENGINE_FORBIDDEN, "numpy", "pyarrow"))
    assert heavy == []
    assert output.count("\n20") == 3  # the three snapshots were listed


def test_backup_help_loads_no_engine():
    heavy, output = heavy_imports(
        [["--fleet", "/nonexistent-fleet", cmd, "--help"] for cmd in ("backup", "snapshots", "verify", "restore")],
        (*HEAVY, "numpy", "pyarrow", "fsspec"),
    )
    assert heavy == []
    assert "--source" in output and "--deep" in output  # the helps were printed


def test_restore_parts_together_restore_the_whole_snapshot_each_only_its_share(dest, tmp_path):
    src = tmp_path / "src"
    _homes(src)
    (src / "cy").mkdir()
    (src / "cy" / "a.txt").write_text("cy\n")
    assert run("backup", "--hub", "c/h", "--source", str(src), "--dest", dest).exit_code == 0
    out = tmp_path / "out"
    seen = []
    for part in range(2):
        restored = run(
            "restore", "--hub", "c/h", "--dest", dest, "--part", str(part), "--parts", "2", "--target", str(out)
        )
        assert restored.exit_code == 0, restored.output
        seen.append(sorted(p.name for p in out.iterdir()))
    # bob (2 MiB) alone in share 0, the two small homes in share 1; together the whole tree
    assert seen == [["bob"], ["ada", "bob", "cy"]]
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == {
        p.relative_to(src): p.read_bytes() for p in src.rglob("*") if p.is_file()
    }
    idle = run(
        "restore", "--hub", "c/h", "--dest", dest, "--part", "3", "--parts", "4", "--target", str(tmp_path / "x")
    )
    assert idle.exit_code == 0 and "no folders, nothing to do" in idle.output
    assert not (tmp_path / "x").exists()  # 3 folders, 4 workers: the fourth restores nothing, not everything


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--part", "0"], "--part and --parts go together"),
        (["--part", "2", "--parts", "2"], "--part 2: with --parts 2, expected 0 to 1"),
        (["--part", "0", "--parts", "2", "--user", "ada"], "not with --user"),
        (["--parts", "0", "--part", "0"], "0 is not in the range x>=1"),
    ],
)
def test_restore_parts_are_checked(tmp_path, args, message):
    result = run("restore", "--hub", "c/h", "--dest", str(tmp_path / "d"), "--target", str(tmp_path / "t"), *args)
    assert result.exit_code == 2 and message in result.output
