"""A backup's peak memory does not grow with the number of files: a backup pod has a fixed
memory limit, and a home may hold millions of files.

Measured as the peak RSS (VmHWM) of a fresh interpreter running one backup of SMALL and of
LARGE tiny files of distinct contents (nothing deduplicates), first and no-change backups
alike. The engine's fixed-size buffers (walk chunks in flight, contents remembered in a run,
pack records, buffered digests) are scaled down to 1,024 entries in the child, so both
sizes fill them and the difference is what grows with the file count; the full-size
constants are measured at 100k and 1M files by `benchmarks/backup.py --many-files`.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.backup import (
    backup_code,
    largest_child_rss,
    make_many_files,
    peak_rss_of,
    restore_code,
    verify_code,
)

SMALL, LARGE = 20_000, 80_000
# 10M files in a 1 GiB backup pod: ~110 MB of interpreter and buffers, 500 MB of growth
BYTES_PER_FILE = 50
SMALL_BUFFERS = (
    "import hub_ops.backup.hashing as hashing, hub_ops.backup.packs as packs, hub_ops.backup.snapshot as snapshot\n"
    "snapshot.CHUNK = snapshot._Distinct.FLUSH = hashing.KNOWN_MAX = packs.PACK_MAX_ENTRIES = 1024\n"
)


def test_backup_peak_memory_does_not_grow_with_the_file_count(tmp_path: Path):
    peaks = {}
    for count in (SMALL, LARGE):
        root = make_many_files(tmp_path / f"many-{count}", count)
        code = SMALL_BUFFERS + backup_code(tmp_path / f"dest-{count}", root)
        _, first, out = peak_rss_of(code)
        assert out.split()[0] == str(count + 1)  # and make_many_files's marker file
        _, no_change, _ = peak_rss_of(code)
        peaks[count] = {"first": first, "no-change": no_change}
    for kind in ("first", "no-change"):
        growth = (peaks[LARGE][kind] - peaks[SMALL][kind]) / (LARGE - SMALL)
        assert growth < BYTES_PER_FILE, f"{kind} backup: {growth:.0f} bytes more per file ({peaks})"


# Restore and verify read the manifest a row group at a time and spill to disk a buffer of
# rows at a time: both scaled down too (row groups of the manifest the backup writes).
SMALL_READS = "import hub_ops.backup.manifest as manifest, hub_ops.backup.spill as spill\n" + (
    "manifest.ROW_GROUP = spill.FLUSH = 1024\n"
)


def test_restore_and_deep_verify_peak_memory_do_not_grow_with_the_file_count(tmp_path: Path):
    peaks = {}
    for count in (SMALL, LARGE):
        root = make_many_files(tmp_path / f"many-{count}", count)
        dest = tmp_path / f"dest-{count}"
        peak_rss_of(SMALL_BUFFERS + SMALL_READS + backup_code(dest, root))
        _, restore, restore_out = peak_rss_of(SMALL_READS + restore_code(dest, tmp_path / f"restored-{count}"))
        assert restore_out.split()[0] == str(count + 1)  # and make_many_files's marker file
        # the files written are the files made (their number and a sample of contents)
        restored = tmp_path / f"restored-{count}" / "user000" / "dir00000"
        assert (restored / "f7").read_bytes() == b"7\n" and len(list(restored.iterdir())) == 1000
        _, verify, out = peak_rss_of(SMALL_READS + verify_code(dest))
        assert out.split()[0] == str(count + 1)  # every distinct content re-hashed
        peaks[count] = {"restore": restore, "restore worker": largest_child_rss(restore_out), "verify --deep": verify}
    for kind in peaks[SMALL]:
        growth = (peaks[LARGE][kind] - peaks[SMALL][kind]) / (LARGE - SMALL)
        assert growth < BYTES_PER_FILE, f"{kind}: {growth:.0f} bytes more per file ({peaks})"
