"""A fresh filesystem for each timed restore: a sparse image of the kind the work folder is
on (ext4 only), made with mkfs and loop-mounted, unmounted and deleted after the run.

Why: on ext4 without a journal, `recently_deleted()` refuses an inode freed less than
2 x vm.dirty_expire_centisecs ago (60 s by default) and reads its inode table block to find
out, so file creation right after a large deletion (the benchmark's own, the test suite's, or
another process's on a shared machine) scans past every freed inode. Measured on a fresh
2-core machine: 59% of a restore's samples there. A new filesystem per run has no such
history, so each tool's restore pays only for its own file creation, on any machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path


def _mount_of(path: Path) -> tuple[str, str, str]:
    """(filesystem type, mount options, ext4 journal mode or '') of the mount holding `path`."""
    found = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", str(path)], capture_output=True, text=True, check=True
    ).stdout.split()
    source, fstype, options = found[0], found[1], found[2]
    journal = ""
    opts = Path(f"/proc/fs/ext4/{Path(source).name}/options")
    if fstype == "ext4" and opts.exists():
        journal = next((o for o in opts.read_text().split() if o.startswith("data=")), "")
    return fstype, options, journal


def plan(work: Path, wanted: bool) -> tuple[dict | None, str]:
    """Whether the restores can get fresh filesystems here, and how: (settings or None, a
    sentence saying what was chosen and why, for the benchmark's output)."""
    if not wanted:
        return None, "restores into folders under --work (--no-fresh-fs)"
    missing = [t for t in ("losetup", "mkfs.ext4", "mount", "umount", "findmnt") if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        why = "not root" if os.geteuid() != 0 else f"no {', '.join(missing)}"
        return None, f"restores into folders under --work ({why}: no fresh filesystem per run)"
    fstype, options, journal = _mount_of(work)
    if fstype != "ext4":
        return None, f"restores into folders under --work (it is on {fstype}, images are made only for ext4)"
    mkfs = ["mkfs.ext4", "-q", "-F"] + ([] if journal else ["-O", "^has_journal"])
    mount_opts = ["loop", "noinit_itable"] + [o for o in options.split(",") if o in ("discard", "relatime", "noatime")]
    settings = {"mkfs": mkfs, "mount": ",".join(mount_opts)}
    kind = f"ext4 {'with journal ' + journal if journal else 'without a journal'}"
    return settings, (
        f"each restore (both tools, and cp -a) into a fresh loop-mounted image, {kind} like --work's "
        f"filesystem: {' '.join(mkfs)}; mount -o {settings['mount']}"
    )


@contextlib.contextmanager
def fresh_target(settings: dict | None, folder: Path, size: int) -> Iterator[Path]:
    """A target folder for one restore: `folder` itself without settings, else the root of a
    new `size`-byte sparse image mounted at `folder` (unmounted and deleted on exit; the
    unmount writes back outside the timed part)."""
    if settings is None:
        yield folder
        return
    image = folder.with_name(folder.name + ".img")
    folder.mkdir(parents=True, exist_ok=True)
    with open(image, "wb") as f:
        f.truncate(size)
    try:
        subprocess.run([*settings["mkfs"], str(image)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["mount", "-o", settings["mount"], str(image), str(folder)], check=True)
        try:
            yield folder / "restore"
        finally:
            subprocess.run(["umount", str(folder)], check=True)
    finally:
        image.unlink()
        folder.rmdir()
