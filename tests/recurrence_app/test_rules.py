"""Expansion and validation of rules, checked against hand-written expected instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recurrence_app.rules import (
    RecurrenceError,
    check_has_future,
    iso_duration,
    next_from_completion,
    occurrences_after,
    parse_lead_time,
    parse_rule,
    restart_from,
    zone,
)


@pytest.fixture(autouse=True)
def _committed_db() -> None:
    """Pure computation: these tests need no database (overrides the suite-wide fixture)."""


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def expand(
    rule: str, tz_name: str, dtstart: datetime, limit: int, excluded: tuple[datetime, ...] = ()
) -> list[datetime]:
    tz = zone(tz_name)
    return occurrences_after(
        rule=parse_rule(rule, tz=tz),
        tz=tz,
        dtstart=dtstart,
        after=dtstart,
        inclusive=True,
        excluded=excluded,
        limit=limit,
    )


# 2026: January 1st is a Thursday; Berlin is UTC+1 until March 29, then UTC+2.
EXPANSIONS = [
    pytest.param(
        "FREQ=DAILY",
        "Europe/Berlin",
        utc(2026, 1, 5, 8),
        [utc(2026, 1, d, 8) for d in (5, 6, 7, 8, 9)],
        id="daily",
    ),
    pytest.param(
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        "Europe/Berlin",
        utc(2026, 1, 9, 8),  # a Friday
        [utc(2026, 1, d, 8) for d in (9, 12, 13, 14, 15)],
        id="weekdays",
    ),
    pytest.param(
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
        "Europe/Berlin",
        utc(2026, 1, 5, 8),
        [
            utc(2026, 1, 5, 8),
            utc(2026, 1, 7, 8),
            utc(2026, 1, 19, 8),
            utc(2026, 1, 21, 8),
            utc(2026, 2, 2, 8),
            utc(2026, 2, 4, 8),
        ],
        id="every-2-weeks-mon-wed",
    ),
    pytest.param(
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "Europe/Berlin",
        utc(2026, 1, 31, 8),
        # February, April and June have no 31st; from March 29 09:00 Berlin is 07:00 UTC.
        [
            utc(2026, 1, 31, 8),
            utc(2026, 3, 31, 7),
            utc(2026, 5, 31, 7),
            utc(2026, 7, 31, 7),
            utc(2026, 8, 31, 7),
        ],
        id="monthly-on-the-31st",
    ),
    pytest.param(
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        "UTC",
        utc(2026, 1, 31, 9),
        [utc(2026, 1, 31, 9), utc(2026, 2, 28, 9), utc(2026, 3, 31, 9), utc(2026, 4, 30, 9)],
        id="last-day-of-month",
    ),
    pytest.param(
        "FREQ=MONTHLY;BYDAY=-1FR",
        "Europe/Berlin",
        utc(2026, 1, 30, 8),
        [utc(2026, 1, 30, 8), utc(2026, 2, 27, 8), utc(2026, 3, 27, 8), utc(2026, 4, 24, 7)],
        id="last-friday",
    ),
    pytest.param(
        "FREQ=MONTHLY;BYDAY=1MO",
        "UTC",
        utc(2026, 1, 5, 9),
        [
            utc(2026, 1, 5, 9),
            utc(2026, 2, 2, 9),
            utc(2026, 3, 2, 9),
            utc(2026, 4, 6, 9),
            utc(2026, 5, 4, 9),
        ],
        id="first-monday",
    ),
    pytest.param(
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "UTC",
        utc(2026, 1, 30, 9),
        [utc(2026, 1, 30, 9), utc(2026, 2, 27, 9), utc(2026, 3, 31, 9)],
        id="last-weekday-bysetpos",
    ),
    pytest.param(
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "UTC",
        utc(2024, 2, 29, 9),
        [utc(2024, 2, 29, 9), utc(2028, 2, 29, 9), utc(2032, 2, 29, 9), utc(2036, 2, 29, 9)],
        id="yearly-on-feb-29",
    ),
    pytest.param(
        "FREQ=WEEKLY",
        "UTC",
        utc(2026, 1, 7, 9),  # no BYDAY: the weekday of DTSTART, a Wednesday
        [utc(2026, 1, 7, 9), utc(2026, 1, 14, 9), utc(2026, 1, 21, 9)],
        id="weekly-on-dtstart-weekday",
    ),
    pytest.param(
        "FREQ=MONTHLY;INTERVAL=2",
        "UTC",
        utc(2026, 1, 15, 9),  # no BYMONTHDAY: the day of DTSTART
        [utc(2026, 1, 15, 9), utc(2026, 3, 15, 9), utc(2026, 5, 15, 9)],
        id="every-other-month-on-dtstart-day",
    ),
    pytest.param(
        "FREQ=DAILY;COUNT=3",
        "UTC",
        utc(2026, 1, 5, 9),
        [utc(2026, 1, 5, 9), utc(2026, 1, 6, 9), utc(2026, 1, 7, 9)],
        id="count",
    ),
    pytest.param(
        "FREQ=DAILY;UNTIL=20260108T235959Z",
        "UTC",
        utc(2026, 1, 5, 9),
        [utc(2026, 1, d, 9) for d in (5, 6, 7, 8)],
        id="until-utc",
    ),
    pytest.param(
        "RRULE:FREQ=DAILY;UNTIL=20260107",
        "Europe/Berlin",
        utc(2026, 1, 5, 8),
        [utc(2026, 1, d, 8) for d in (5, 6, 7)],
        id="until-date-includes-the-day",
    ),
    pytest.param(
        "FREQ=WEEKLY;BYDAY=MO;COUNT=2",
        "UTC",
        utc(2026, 1, 7, 9),  # a Wednesday: DTSTART counts as the first of the two
        [utc(2026, 1, 7, 9), utc(2026, 1, 12, 9)],
        id="dtstart-off-rule-counts-first",
    ),
]


@pytest.mark.parametrize(("rule", "tz_name", "dtstart", "expected"), EXPANSIONS)
def test_expansion_matches_the_calendar(
    rule: str, tz_name: str, dtstart: datetime, expected: list[datetime]
) -> None:
    assert expand(rule, tz_name, dtstart, limit=len(expected)) == expected
    if "COUNT" in rule or "UNTIL" in rule:
        # A finite rule has nothing beyond its last occurrence.
        assert expand(rule, tz_name, dtstart, limit=len(expected) + 5) == expected


def test_excluded_dates_are_skipped() -> None:
    found = expand("FREQ=DAILY", "UTC", utc(2026, 1, 5, 9), 3, excluded=(utc(2026, 1, 6, 9),))
    assert found == [utc(2026, 1, 5, 9), utc(2026, 1, 7, 9), utc(2026, 1, 8, 9)]


def test_finite_rule_stops() -> None:
    assert len(expand("FREQ=DAILY;COUNT=3", "UTC", utc(2026, 1, 5, 9), 10)) == 3


# DST: Berlin springs forward on 2026-03-29 (02:00 -> 03:00) and falls back on 2026-10-25
# (03:00 -> 02:00); New York on 2026-03-08 (02:00 -> 03:00) and 2026-11-01 (02:00 -> 01:00).
DST = [
    pytest.param(
        "Europe/Berlin",
        utc(2026, 3, 28, 8),
        [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)],
        id="berlin-09:00-spring",
    ),
    pytest.param(
        "Europe/Berlin",
        utc(2026, 10, 24, 7),
        [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)],
        id="berlin-09:00-autumn",
    ),
    pytest.param(
        "Europe/Berlin",
        utc(2026, 3, 28, 1, 30),  # 02:30 local; on the 29th 02:30 does not exist -> 03:30 CEST
        [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)],
        id="berlin-02:30-gap-moves-forward",
    ),
    pytest.param(
        "Europe/Berlin",
        utc(2026, 10, 24, 0, 30),  # 02:30 local; on the 25th it happens twice -> the first
        [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        id="berlin-02:30-ambiguous-takes-first",
    ),
    pytest.param(
        "America/New_York",
        utc(2026, 3, 7, 14),
        [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)],
        id="new-york-09:00-spring",
    ),
    pytest.param(
        "America/New_York",
        utc(2026, 10, 31, 13),
        [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), utc(2026, 11, 2, 14)],
        id="new-york-09:00-autumn",
    ),
    pytest.param(
        "America/New_York",
        utc(2026, 3, 7, 7, 30),  # 02:30 EST; on the 8th 02:30 does not exist -> 03:30 EDT
        [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)],
        id="new-york-02:30-gap-moves-forward",
    ),
    pytest.param(
        "America/New_York",
        utc(2026, 10, 31, 5, 30),  # 01:30 EDT; on Nov 1st it happens twice -> the first (EDT)
        [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
        id="new-york-01:30-ambiguous-takes-first",
    ),
]


@pytest.mark.parametrize(("tz_name", "dtstart", "expected"), DST)
def test_daily_rule_keeps_local_time_across_dst(
    tz_name: str, dtstart: datetime, expected: list[datetime]
) -> None:
    assert expand("FREQ=DAILY", tz_name, dtstart, limit=3) == expected


@pytest.mark.parametrize(
    ("rule", "tz_name", "dtstart", "occurrence", "expected"),
    [
        # Every other Monday and Wednesday: the phase of INTERVAL survives the restart.
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
            "UTC",
            utc(2026, 1, 5, 9),
            utc(2026, 3, 2, 9),
            [utc(2026, 3, 4, 9), utc(2026, 3, 16, 9), utc(2026, 3, 18, 9)],
        ),
        # 02:30 Berlin, restarted from the instance the DST gap moved to 03:30 on March 29:
        # the walk from DTSTART is used, and 02:30 comes back the next day.
        (
            "FREQ=DAILY",
            "Europe/Berlin",
            utc(2026, 3, 1, 1, 30),
            utc(2026, 3, 29, 1, 30),
            [utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30), utc(2026, 4, 1, 0, 30)],
        ),
    ],
)
def test_restarting_from_an_occurrence_gives_the_same_calendar(
    rule: str, tz_name: str, dtstart: datetime, occurrence: datetime, expected: list[datetime]
) -> None:
    tz = zone(tz_name)
    parsed = parse_rule(rule, tz=tz)
    for rebase in (True, False):
        found = occurrences_after(
            rule=parsed, tz=tz, dtstart=dtstart, after=occurrence, limit=3, rebase=rebase
        )
        assert found == expected


def test_expansion_far_from_the_start_resumes_near_the_asked_instant() -> None:
    tz = zone("Europe/Berlin")
    rule = parse_rule("FREQ=DAILY", tz=tz)
    found = occurrences_after(
        rule=rule, tz=tz, dtstart=utc(2020, 1, 1, 8), after=utc(2026, 7, 1, 12), limit=2
    )
    assert found == [utc(2026, 7, 2, 7), utc(2026, 7, 3, 7)]


# Completion anchor ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "completed_at", "expected"),
    [
        # Every 3 days at 09:00 Berlin, done Wednesday 2026-01-07 afternoon -> Saturday 10th.
        ("FREQ=DAILY;INTERVAL=3", utc(2026, 1, 7, 14), utc(2026, 1, 10, 8)),
        # Daily, done early in the morning before the usual time -> still the next day.
        ("FREQ=DAILY", utc(2026, 1, 7, 5), utc(2026, 1, 8, 8)),
        # Weekly on Mondays, done on Wednesday -> the Monday after.
        ("FREQ=WEEKLY;BYDAY=MO", utc(2026, 1, 7, 14), utc(2026, 1, 12, 8)),
        # Every 4 hours at :00, done 10:20 local -> 14:00 local.
        ("FREQ=HOURLY;INTERVAL=4", utc(2026, 1, 7, 9, 20), utc(2026, 1, 7, 13)),
    ],
)
def test_completion_anchor_counts_from_completion(
    rule: str, completed_at: datetime, expected: datetime
) -> None:
    tz = zone("Europe/Berlin")
    found = next_from_completion(
        rule=parse_rule(rule, tz=tz), tz=tz, dtstart=utc(2026, 1, 5, 8), completed_at=completed_at
    )
    assert found == expected


def test_completion_anchor_respects_until() -> None:
    tz = zone("UTC")
    rule = parse_rule("FREQ=DAILY;INTERVAL=3;UNTIL=20260109T000000Z", tz=tz)
    assert (
        next_from_completion(
            rule=rule, tz=tz, dtstart=utc(2026, 1, 5, 9), completed_at=utc(2026, 1, 7, 10)
        )
        is None
    )


def test_restart_keeps_local_time_of_day() -> None:
    tz = zone("Europe/Berlin")
    rule = parse_rule("FREQ=WEEKLY;BYDAY=FR", tz=tz)
    start = restart_from(rule=rule, tz=tz, wall_time_of=utc(2026, 1, 5, 8), now=utc(2026, 6, 1))
    assert start == utc(2026, 6, 5, 7)  # Friday 09:00 CEST


# Validation ----------------------------------------------------------------------------------

NOW = utc(2026, 6, 1, 12)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=SECONDLY", "FREQ=SECONDLY is not supported"),
        ("FREQ=MINUTELY;INTERVAL=5", "FREQ=MINUTELY is not supported"),
        ("FREQ=DAILY;COUNT=1001", "COUNT may be at most 1000"),
        ("FREQ=DAILY;UNTIL=20260101T000000Z", "End date must be in the future"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20300101", "COUNT and UNTIL cannot both be given"),
        ("FREQ=FORTNIGHTLY", "invalid 'FREQ': FORTNIGHTLY"),
        ("FREQ=WEEKLY;BYDAY=XX", "invalid 'BYDAY': XX"),
        ("FREQ=DAILY;FOO=1", "unknown parameter 'FOO'"),
        ("every day", "is not NAME=VALUE"),
        ("BYDAY=MO", "FREQ is required"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY values must be"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "no occurrence in the future"),
        ("FREQ=DAILY;COUNT=2", "no occurrence in the future"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(rule: str, message: str) -> None:
    tz = zone("UTC")
    with pytest.raises(RecurrenceError) as caught:
        parsed = parse_rule(rule, tz=tz)
        check_has_future(rule=parsed, tz=tz, dtstart=utc(2026, 1, 1, 9), now=NOW, excluded=())
    assert caught.value.field == "rule"
    assert message in caught.value.message


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(RecurrenceError) as caught:
        zone("Mars/Olympus_Mons")
    assert caught.value.field == "timezone"


def test_negative_lead_time_is_refused() -> None:
    with pytest.raises(RecurrenceError) as caught:
        parse_lead_time(timedelta(minutes=-5))
    assert caught.value.field == "lead_time"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(minutes=15), "PT15M"),
        (timedelta(days=1, hours=2), "P1DT2H"),
        (timedelta(hours=1, seconds=5), "PT1H5S"),
    ],
)
def test_durations_are_written_in_iso_8601(value: timedelta, text: str) -> None:
    assert iso_duration(value) == text
