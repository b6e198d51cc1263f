"""The incident state machine: one incident per (source, subject), reminders every
repeat_after, one resolved; a pure function of (state, observations, now)."""

from __future__ import annotations

import datetime as dt

from hub_ops.alerts.incidents import INFO, RAISED, REMINDER, RESOLVED, Incident, Observation, advance

T0 = dt.datetime(2026, 3, 2, 2, 5, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def obs(status: str, at: dt.datetime, subject: str = "pangeo-hubs/prod", **kw) -> Observation:
    return Observation(source="run:user_home_backups_job", subject=subject, status=status, at=at, **kw)


def run(ticks, repeat_after=12 * HOUR):
    """ticks: [(now, [observations])] -> [(now, event)] and the final state."""
    state: dict[str, Incident] = {}
    said = []
    for now, observations in ticks:
        step = advance(state, observations, now, repeat_after)
        state = step.state
        said += [(now, n.event) for n in step.notifications]
    return said, state


def test_three_failing_nights_are_one_incident_with_reminders_and_one_resolved():
    nights = [T0 + i * 24 * HOUR for i in range(4)]
    ticks = []
    for i, night in enumerate(nights):
        status = "failing" if i < 3 else "ok"
        ticks.append((night, [obs(status, night - 5 * dt.timedelta(minutes=1))]))
        ticks.append((night + 6 * HOUR, []))
        ticks.append((night + 12 * HOUR, []))
    said, state = run(ticks)
    expected = [(nights[0], RAISED)]
    # every 12 h while open: +12 h, +24 h, +36 h, ... until night 4 passes
    expected += [(nights[0] + k * 12 * HOUR, REMINDER) for k in range(1, 6)]
    expected += [(nights[3], RESOLVED)]
    assert said == expected
    assert state == {}


def test_advance_never_mutates_the_state_it_is_given_and_repeats_itself():
    step = advance({}, [obs("failing", T0)], T0, HOUR)
    before = dict(step.state)
    again = advance(step.state, [obs("failing", T0)], T0 + 10 * dt.timedelta(minutes=1), HOUR)
    assert step.state == before
    assert again.notifications == [] and again.state == step.state  # the same failure seen twice counts once
    [incident] = again.state.values()
    assert incident.failures == 1 and incident.opened_at == T0


def test_later_failures_update_the_incident_and_a_stale_ok_does_not_close_it():
    step = advance({}, [obs("failing", T0, detail="first")], T0, 24 * HOUR)
    step = advance(step.state, [obs("failing", T0 + HOUR, detail="second")], T0 + HOUR, 24 * HOUR)
    [incident] = step.state.values()
    assert (incident.failures, incident.detail, incident.opened_at) == (2, "second", T0)
    # a success older than the last failure (runs finish out of order) is no resolution
    step = advance(step.state, [obs("ok", T0 + 30 * dt.timedelta(minutes=1))], T0 + 2 * HOUR, 24 * HOUR)
    assert step.notifications == [] and len(step.state) == 1


def test_subjects_are_separate_incidents_and_info_opens_nothing():
    observations = [
        obs("failing", T0, subject="pangeo-hubs/prod"),
        obs("failing", T0, subject="pangeo-hubs/staging"),
        Observation("decommission-notice:2026-04-01", "pangeo-hubs/legacy", "info", T0, severity="info"),
    ]
    step = advance({}, observations, T0, HOUR)
    assert sorted(n.event for n in step.notifications) == [INFO, RAISED, RAISED]
    assert sorted(step.state) == [
        "run:user_home_backups_job|pangeo-hubs/prod",
        "run:user_home_backups_job|pangeo-hubs/staging",
    ]


def test_incident_survives_a_round_trip_through_json():
    step = advance({}, [obs("failing", T0, detail="x", cluster="pangeo-hubs", hub="pangeo-hubs/prod")], T0, HOUR)
    [incident] = step.state.values()
    assert Incident.from_json(incident.to_json()) == incident
