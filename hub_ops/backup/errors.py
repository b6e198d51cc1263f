"""Errors of the backup engine. Each message names the file (a path in the homes, a blob,
a manifest) and says what is wrong and, where there is one, what to do."""

from __future__ import annotations


class BackupError(Exception):
    """Base class: anything the backup engine refuses or cannot do."""


class BackupIntegrityError(BackupError):
    """Stored data does not match what a manifest promises (missing, truncated or corrupt
    blob; unreadable manifest). `problems` lists every finding, one line each."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            shown = self.problems[:20]
            more = len(self.problems) - len(shown)
            message = message + ":\n  " + "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")
        super().__init__(message)


class SnapshotNotFoundError(BackupError):
    """No such snapshot (or no snapshot at all) for a hub at a destination."""


class RestoreRefusedError(BackupError):
    """A restore would write outside its target (`..`, absolute paths, links pointing out)
    or over something it must not replace. Nothing outside the target is ever touched."""

    def __init__(self, message: str, refused: list[str] | None = None):
        self.refused = list(refused or [])
        if self.refused:
            shown = self.refused[:20]
            more = len(self.refused) - len(shown)
            message = message + ":\n  " + "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")
        super().__init__(message)


class LockError(BackupError):
    """A destination lock could not be taken (a prune holds it, or a backup does) or was
    lost while running (removed as stale): the operation stopped before committing."""


class SourceError(BackupError):
    """The folder to back up is missing, not a folder, or files in it could not be read
    (when the caller asked unreadable files to fail the snapshot)."""
