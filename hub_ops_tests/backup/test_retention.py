"""Retention: which snapshots a keep-last/daily/weekly/monthly policy keeps."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub_ops.backup import BackupError, RetentionPolicy, select_kept
from hub_ops.backup.repository import new_snapshot_id, snapshot_time

_start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
times = st.lists(st.integers(0, 400 * 24 * 3600), min_size=0, max_size=60, unique=True).map(
    lambda secs: [(new_snapshot_id(_start + dt.timedelta(seconds=s)), _start + dt.timedelta(seconds=s)) for s in secs]
)
policies = st.builds(RetentionPolicy, *(st.integers(0, 6) for _ in range(4)))


@settings(max_examples=300, deadline=None)
@given(snapshots=times, policy=policies)
def test_policy_invariants(snapshots, policy):
    kept = select_kept(snapshots, policy)
    ids = sorted(i for i, _ in snapshots)
    assert kept <= set(ids)
    if ids:
        assert ids[-1] in kept, "the newest snapshot is always kept"
    assert set(ids[-policy.last :] if policy.last else []) <= kept
    for n, bucket in (
        (policy.daily, lambda t: t.date()),
        (policy.weekly, lambda t: t.isocalendar()[:2]),
        (policy.monthly, lambda t: (t.year, t.month)),
    ):
        groups: dict = {}
        for i in ids:
            groups.setdefault(bucket(snapshot_time(i)), []).append(i)
        recent = sorted(groups, reverse=True)[:n]
        for b in recent:  # the newest of each of the n most recent buckets is kept
            assert max(groups[b]) in kept
    # nothing else is kept: each kept id is the newest, or among the last N, or newest of a recent bucket
    assert len(kept) <= 1 + policy.last + policy.daily + policy.weekly + policy.monthly


def test_a_year_of_nightly_snapshots():
    nights = [_start + dt.timedelta(days=d, hours=2) for d in range(365)]
    snapshots = [(new_snapshot_id(t), t) for t in nights]
    kept = select_kept(snapshots, RetentionPolicy(daily=7, weekly=4, monthly=12))
    # the 7 last nights (Dec 25-31, 2025); the newest nights of the 4 last ISO weeks are
    # Dec 31 and 28 (already kept), 21 and 14; the 12 month-ends are Dec 31 (kept) and 11 more
    assert len(kept) == 7 + 2 + 11
    assert snapshot_time(max(kept)) == nights[-1]


def test_negative_counts_are_refused():
    with pytest.raises(BackupError, match="daily=-1"):
        RetentionPolicy(daily=-1)
