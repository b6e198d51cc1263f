"""One shape for every check's verdict, so that a check that could check nothing is never
green: it WARNs with "0 of N <subjects> checked, because ...". Each result names the hubs or
clusters it is about, in its description and in a table of problems."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from hub_ops.defs.shared.metadata import table


def _names(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def verdict(
    *,
    subject: str,
    checked: Sequence[str],
    problems: Sequence[Mapping[str, Any]],
    not_checked: Mapping[str, str] | None = None,
    ok: str,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
    problem_columns: Sequence[str] | None = None,
    none_because: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    **result_args: Any,
) -> dg.AssetCheckResult:
    """The check's result over `checked` ids (hubs or clusters: `subject`), with `problems`
    (rows whose first column is the id) and `not_checked` ({id: why}). Passes only when
    something was checked and nothing failed; nothing checked is a WARN saying why.
    `none_because` says why there is nothing at all to check. `result_args` go to
    AssetCheckResult (check_name, asset_key)."""
    not_checked = dict(not_checked or {})
    total = len(checked) + len(not_checked)
    failing = list(dict.fromkeys(str(next(iter(row.values()))) for row in problems))
    if problems:
        passed = False
        description = f"{len(failing)} of {total} {subject}s failed: {_names(failing)}"
    elif not checked:
        passed, severity = False, dg.AssetCheckSeverity.WARN
        reasons = list(dict.fromkeys(not_checked.values())) or [none_because or f"there is no {subject} to check"]
        description = f"0 of {total} {subject}s checked, because " + "; ".join(reasons)
    else:
        passed = True
        description = f"{ok}: {len(checked)} of {total} {subject}s checked"
    if not_checked and checked:
        description += f" ({len(not_checked)} not checked: {_names(list(not_checked))})"
    return dg.AssetCheckResult(
        passed=passed,
        severity=severity,
        description=description,
        metadata={
            "checked": len(checked),
            "not_checked": len(not_checked),
            "problems": table(problems, problem_columns),
            "not checked": table([{subject: k, "why": v} for k, v in not_checked.items()], [subject, "why"]),
            **(metadata or {}),
        },
        **result_args,
    )
