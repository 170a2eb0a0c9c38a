"""RFC 5545 edge cases: DST gaps, rules whose next occurrence is decades away, BYSECOND.

Europe/London springs forward on 2026-03-29 at 01:00 GMT (01:00 -> 02:00 BST): wall times from
01:00 to 01:59 do not exist that day. A wall time in the gap is read with the offset before it
(RFC 5545 3.3.5), i.e. moved forward by an hour; the occurrences are instants, so one moved onto
another occurrence's instant is given once and COUNT counts distinct instants.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from recurrence_app.models import RecurringSeries
from recurrence_app.rules import (
    RecurrenceError,
    check_density,
    check_has_future,
    iter_occurrences,
    next_from_completion,
    occurrences_after,
    parse_rule,
    restart_from,
    zone,
)
from tests.recurrence_app.conftest import create_recurring

LONDON = zone("Europe/London")


def utc(month: int, day: int, hour: int = 0, minute: int = 0, *, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def expand(rule: str, dtstart: datetime, limit: int, tz_name: str = "Europe/London") -> list[Any]:
    tz = zone(tz_name)
    found = occurrences_after(
        rule=parse_rule(rule, tz=tz), tz=tz, dtstart=dtstart, after=dtstart, inclusive=True,
        limit=limit,
    )  # fmt: skip
    return found


# Unit level: the engine ------------------------------------------------------------------------


def test_hourly_across_the_gap_gives_five_distinct_instants() -> None:
    # 23:00 GMT the evening before; 01:00 local does not exist and lands on 02:00 BST (01:00Z).
    found = expand("FREQ=HOURLY;COUNT=5", utc(3, 28, 23), limit=10)

    assert found == [utc(3, 28, 23), utc(3, 29, 0), utc(3, 29, 1), utc(3, 29, 2), utc(3, 29, 3)]


def test_by_hour_and_minute_across_the_gap_repeat_no_instant() -> None:
    found = expand("FREQ=DAILY;BYHOUR=0,1,2,3,4;BYMINUTE=0,30", utc(3, 29, 0), limit=8)

    assert found == [
        utc(3, 29, 0),
        utc(3, 29, 0, 30),
        utc(3, 29, 1),  # 01:00 GMT does not exist: 02:00 BST; the real 02:00 BST is not repeated
        utc(3, 29, 1, 30),
        utc(3, 29, 2),  # 03:00 BST
        utc(3, 29, 2, 30),
        utc(3, 29, 3),
        utc(3, 29, 3, 30),
    ]


def test_a_time_moved_past_later_wall_times_comes_back_in_time_order() -> None:
    # 01:40 does not exist (02:40 BST = 01:40Z); 02:10 BST (01:10Z) is earlier than it.
    found = expand("FREQ=DAILY;BYHOUR=1,2;BYMINUTE=10,40", utc(3, 28, 1, 10), limit=8)

    assert found == [
        utc(3, 28, 1, 10),
        utc(3, 28, 1, 40),
        utc(3, 28, 2, 10),
        utc(3, 28, 2, 40),
        utc(3, 29, 1, 10),  # 01:10 and 02:10 both read as 02:10 BST
        utc(3, 29, 1, 40),  # 01:40 and 02:40 both read as 02:40 BST
        utc(3, 30, 0, 10),
        utc(3, 30, 0, 40),
    ]


def test_count_counts_instants_not_wall_times() -> None:
    # Wall times 00:00, 01:00, 02:00 on the 29th are two instants: COUNT=4 reaches the 30th.
    found = expand("FREQ=DAILY;BYHOUR=0,1,2;COUNT=4", utc(3, 29, 0), limit=10)

    assert found == [utc(3, 29, 0), utc(3, 29, 1), utc(3, 29, 23), utc(3, 30, 0)]


def test_a_daily_time_in_the_gap_moves_forward_and_keeps_its_day() -> None:
    # No collision: 01:30 every day is 02:30 BST on the 29th, not dropped (RFC 5545 3.3.5).
    assert expand("FREQ=DAILY", utc(3, 28, 1, 30), limit=3) == [
        utc(3, 28, 1, 30),
        utc(3, 29, 1, 30),
        utc(3, 30, 0, 30),
    ]


def test_every_walk_gives_the_same_instants_across_the_gap() -> None:
    rule = parse_rule("FREQ=HOURLY", tz=LONDON)
    start = utc(3, 1, 12)
    # Far from DTSTART the walk resumes near the instant asked about; it must agree.
    resumed = occurrences_after(
        rule=rule, tz=LONDON, dtstart=start, after=utc(3, 28, 23), inclusive=True, limit=5
    )
    rebased = occurrences_after(
        rule=rule, tz=LONDON, dtstart=start, after=utc(3, 28, 23), inclusive=True, limit=5,
        rebase=True,
    )  # fmt: skip
    restarted = restart_from(rule=rule, tz=LONDON, wall_time_of=start, now=utc(3, 29, 0, 30))
    completed = next_from_completion(
        rule=rule, tz=LONDON, dtstart=start, completed_at=utc(3, 29, 0, 59)
    )

    expected = [utc(3, 28, 23), utc(3, 29, 0), utc(3, 29, 1), utc(3, 29, 2), utc(3, 29, 3)]
    assert resumed == rebased == expected
    assert restarted == completed == utc(3, 29, 1)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("FREQ=YEARLY;INTERVAL=11", [utc(6, 1, 9, year=y) for y in (2026, 2037, 2048)]),
        ("FREQ=YEARLY;INTERVAL=100;COUNT=3", [utc(6, 1, 9, year=y) for y in (2026, 2126, 2226)]),
    ],
)
def test_a_next_occurrence_decades_away_is_still_a_future(
    rule: str, expected: list[datetime]
) -> None:
    parsed = parse_rule(rule, tz=LONDON)

    check_has_future(rule=parsed, tz=LONDON, dtstart=expected[0], now=utc(5, 1), excluded=())

    walk = iter_occurrences(rule=parsed, tz=LONDON, dtstart=expected[0])
    assert list(islice(walk, len(expected))) == expected


def test_a_rule_whose_only_future_occurrence_is_decades_after_now_is_accepted() -> None:
    # DTSTART passed; the next occurrence is 11 years on, past any ten-year horizon.
    parsed = parse_rule("FREQ=YEARLY;INTERVAL=11", tz=LONDON)

    check_has_future(rule=parsed, tz=LONDON, dtstart=utc(1, 5, 9), now=utc(2, 1), excluded=())


def test_by_second_is_expanded() -> None:
    found = expand(
        "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=30", utc(6, 1, 9, 0), limit=3, tz_name="UTC"
    )

    assert found == [utc(6, 1, 9), utc(6, 1, 9).replace(second=30), utc(6, 2, 9).replace(second=30)]


def test_by_second_is_held_to_the_same_density_bound() -> None:
    check_density(parse_rule("FREQ=HOURLY;BYSECOND=15", tz=LONDON))
    with pytest.raises(RecurrenceError, match="at most once an hour"):
        check_density(parse_rule("FREQ=HOURLY;BYMINUTE=0;BYSECOND=0,30", tz=LONDON))


# Through the API -------------------------------------------------------------------------------


@pytest.fixture
def _clock() -> Any:
    with time_machine.travel(utc(3, 2, 7), tick=False) as traveller:
        yield traveller


def occurrences(api: APIClient, task: dict[str, Any], limit: int) -> list[str]:
    response = api.get(f"/api/v1/series/{task['series']}/occurrences/?limit={limit}")
    assert response.status_code == 200, response.content
    found: list[str] = response.json()["occurrences"]
    return found


@pytest.mark.usefixtures("_clock")
def test_the_api_lists_an_hourly_series_across_the_gap_once_per_instant(api: APIClient) -> None:
    first = create_recurring(
        api, title="Check the oven", due_at="2026-03-28T23:00:00Z",
        rule="FREQ=HOURLY;COUNT=5", timezone="Europe/London",
    )  # fmt: skip

    assert occurrences(api, first, limit=10) == [
        "2026-03-28T23:00:00Z",
        "2026-03-29T00:00:00Z",
        "2026-03-29T01:00:00Z",
        "2026-03-29T02:00:00Z",
        "2026-03-29T03:00:00Z",
    ]


@pytest.mark.usefixtures("_clock")
def test_the_api_gives_two_wall_times_that_meet_in_the_gap_once(api: APIClient) -> None:
    first = create_recurring(
        api, title="Feed the cat", due_at="2026-03-28T01:00:00Z",
        rule="FREQ=DAILY;BYHOUR=1,2;BYMINUTE=0", timezone="Europe/London",
    )  # fmt: skip

    assert occurrences(api, first, limit=5) == [
        "2026-03-28T01:00:00Z",
        "2026-03-28T02:00:00Z",
        "2026-03-29T01:00:00Z",  # 01:00 GMT and 02:00 BST are one instant
        "2026-03-30T00:00:00Z",
        "2026-03-30T01:00:00Z",
    ]


@pytest.mark.usefixtures("_clock")
@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("FREQ=YEARLY;INTERVAL=11", ["2026-03-02T08:00:00Z", "2037-03-02T08:00:00Z"]),
        (
            "FREQ=YEARLY;INTERVAL=100;COUNT=3",
            ["2026-03-02T08:00:00Z", "2126-03-02T08:00:00Z", "2226-03-02T08:00:00Z"],
        ),
        # UNTIL at DTSTART is a series of one, as COUNT=1 is.
        ("FREQ=DAILY;UNTIL=20260302T080000Z", ["2026-03-02T08:00:00Z"]),
        ("FREQ=DAILY;COUNT=1", ["2026-03-02T08:00:00Z"]),
        (
            "FREQ=DAILY;BYHOUR=8;BYMINUTE=0;BYSECOND=30",
            ["2026-03-02T08:00:00Z", "2026-03-02T08:00:30Z", "2026-03-03T08:00:30Z"],
        ),
    ],
)
def test_the_api_accepts_rules_it_used_to_refuse(
    api: APIClient, rule: str, expected: list[str]
) -> None:
    first = create_recurring(api, title="Rare", due_at="2026-03-02T08:00:00Z", rule=rule)

    assert occurrences(api, first, limit=3)[: len(expected)] == expected


@pytest.mark.usefixtures("_clock")
def test_the_api_refuses_a_by_second_rule_denser_than_hourly(api: APIClient) -> None:
    response = api.post(
        "/api/v1/tasks/",
        {
            "title": "Blink",
            "due_at": "2026-03-02T08:00:00Z",
            "recurrence": {"rule": "FREQ=DAILY;BYSECOND=0,30", "timezone": "UTC"},
        },
        format="json",
    )

    assert response.status_code == 400
    assert "at most once an hour" in response.json()["recurrence"]["rule"][0]
    assert not RecurringSeries.objects.exists()
