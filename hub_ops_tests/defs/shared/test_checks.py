"""verdict: a check passes only when something was checked and nothing failed."""

import dagster as dg

from hub_ops.defs.shared.checks import verdict
from hub_ops_tests.tables import rows


def _verdict(checked, problems=(), not_checked=None, **kwargs):
    return verdict(
        subject="hub", checked=checked, problems=list(problems), not_checked=not_checked, ok="all good", **kwargs
    )


def test_nothing_checked_warns_with_the_reasons():
    result = _verdict([], not_checked={"a/prod": "cluster a unreachable", "a/dev": "cluster a unreachable"})
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == "0 of 2 hubs checked, because cluster a unreachable"
    assert rows(result.metadata["not checked"]) == [
        {"hub": "a/prod", "why": "cluster a unreachable"},
        {"hub": "a/dev", "why": "cluster a unreachable"},
    ]


def test_an_empty_fleet_is_not_a_pass():
    result = _verdict([], none_because="no hub has backups enabled")
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description == "0 of 0 hubs checked, because no hub has backups enabled"


def test_problems_name_each_failing_hub_once():
    problems = [{"hub": "b/prod", "problem": "x"}, {"hub": "b/prod", "problem": "y"}, {"hub": "c/dev", "problem": "z"}]
    result = _verdict(["b/prod", "c/dev", "d/prod"], problems, {"e/prod": "no API"})
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.description == "2 of 4 hubs failed: b/prod, c/dev (1 not checked: e/prod)"
    assert rows(result.metadata["problems"]) == problems


def test_pass_says_how_many_were_checked():
    result = _verdict(["a/prod", "b/prod"], not_checked={"c/prod": "no API"})
    assert result.passed
    assert result.description == "all good: 2 of 3 hubs checked (1 not checked: c/prod)"
    assert result.metadata["checked"].value == 2 and result.metadata["not_checked"].value == 1
