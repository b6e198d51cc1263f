"""Errors a person can act on: which file, which key, which line, what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ConfigProblem:
    """One problem in one file of the fleet, rendered as `file:line key.path: message`."""

    file: str  # relative to the fleet root, POSIX separators
    line: int | None
    key: str  # dotted/indexed key path, e.g. hubs[2].helm_chart_values_files[1]; "" for the file
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class FleetConfigError(Exception):
    """The fleet config is invalid. Carries every problem found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.key, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))
