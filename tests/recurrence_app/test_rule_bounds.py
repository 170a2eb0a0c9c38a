"""Bounds on rules: expansion cost, density, UNTIL at DTSTART, sub-second due times, bad input."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from recurrence_app.materialise import materialise_due
from recurrence_app.models import RecurringSeries
from tasks_app.models import Task
from tests.recurrence_app.conftest import create_recurring, instances, series_of

NOW = datetime(2026, 3, 2, 7, tzinfo=UTC)
DUE = datetime(2026, 3, 2, 8, tzinfo=UTC)
# Far above the milliseconds a bounded expansion takes, far below the 10-28 s of a walk to 9999.
FAST = 1.0
NEVER = ["FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30"]


@pytest.fixture(autouse=True)
def _clock() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def post(api: APIClient, *, due_at: str = DUE.isoformat(), **recurrence: Any) -> Any:
    return api.post(
        "/api/v1/tasks/",
        {"title": "Water plants", "due_at": due_at, "recurrence": recurrence},
        format="json",
    )


@pytest.mark.parametrize("rule", NEVER)
def test_a_rule_that_never_matches_is_refused_within_milliseconds(
    api: APIClient, rule: str
) -> None:
    started = time.perf_counter()
    response = post(api, rule=rule)
    assert time.perf_counter() - started < FAST
    assert response.status_code == 400
    assert "no occurrence" in response.json()["recurrence"]["rule"][0]
    assert not RecurringSeries.objects.exists()


@pytest.mark.parametrize("rule", NEVER)
def test_a_stored_rule_that_never_matches_is_expanded_within_milliseconds(
    api: APIClient, rule: str
) -> None:
    # GIVEN a series whose stored rule never matches (saved before rules were bounded)
    first = create_recurring(api, title="Water plants", due_at=DUE.isoformat(), rule="FREQ=DAILY")
    RecurringSeries.objects.filter(pk=first["series"]).update(rule=rule)
    started = time.perf_counter()
    # WHEN its occurrences are listed, its instance completed and the worker sweeps
    listed = api.get(f"/api/v1/series/{first['series']}/occurrences/")
    completed = api.post(f"/api/v1/tasks/{first['id']}/complete/")
    materialise_due(now=NOW)
    # THEN each answers at once, the rule treated as having nothing after DTSTART
    assert time.perf_counter() - started < FAST
    assert listed.status_code == 200
    assert listed.json()["occurrences"] == ["2026-03-02T08:00:00Z"]
    assert completed.status_code == 200
    assert len(instances(first["series"])) == 1


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY;BYMINUTE=" + ",".join(str(minute) for minute in range(60)),
        "FREQ=DAILY;BYHOUR=9;BYMINUTE=0,30",
        "FREQ=DAILY;BYHOUR=0,23;BYMINUTE=0,59",
    ],
)
def test_a_rule_repeating_more_often_than_hourly_is_refused(api: APIClient, rule: str) -> None:
    response = post(api, rule=rule)
    assert response.status_code == 400
    assert "at most once an hour" in response.json()["recurrence"]["rule"][0]
    assert not RecurringSeries.objects.exists()


def test_a_denser_rule_is_refused_on_edit_too(api: APIClient) -> None:
    first = create_recurring(api, title="Water plants", due_at=DUE.isoformat(), rule="FREQ=DAILY")
    response = api.patch(
        f"/api/v1/series/{first['series']}/",
        {"rule": "FREQ=HOURLY;BYMINUTE=0,15,30,45"},
        format="json",
    )
    assert response.status_code == 400
    assert "at most once an hour" in response.json()["rule"][0]
    assert series_of(first).rule == "FREQ=DAILY"


def test_hourly_rules_are_still_accepted(api: APIClient) -> None:
    first = create_recurring(
        api, title="Stretch", due_at=DUE.isoformat(), rule="FREQ=HOURLY;BYMINUTE=0"
    )
    assert series_of(first).rule == "FREQ=HOURLY;BYMINUTE=0"


def test_until_at_dtstart_makes_a_series_of_one(api: APIClient) -> None:
    first = create_recurring(
        api, title="Water plants", due_at=DUE.isoformat(), rule="FREQ=DAILY;UNTIL=20260302T080000Z"
    )
    listed = api.get(f"/api/v1/series/{first['series']}/occurrences/").json()
    assert listed["occurrences"] == ["2026-03-02T08:00:00Z"]


def test_until_before_dtstart_is_refused(api: APIClient) -> None:
    response = post(api, rule="FREQ=DAILY;UNTIL=20260302T075959Z")
    assert response.status_code == 400
    assert "before the first due date" in response.json()["recurrence"]["rule"][0]


def test_completing_an_instance_due_with_microseconds_creates_the_next(api: APIClient) -> None:
    first = create_recurring(
        api, title="Water plants", due_at="2026-03-02T08:00:00.123456Z", rule="FREQ=DAILY"
    )
    api.post(f"/api/v1/tasks/{first['id']}/complete/")
    due = [task.due_at for task in instances(first["series"])]
    assert due == [DUE, datetime(2026, 3, 3, 8, tzinfo=UTC)]


@pytest.mark.parametrize(
    "rule",
    ["FREQ=DAILY\nEXDATE:20260303T080000Z", "FREQ=DAILY\r\nRRULE:FREQ=HOURLY"],
)
def test_a_rule_of_more_than_one_line_is_a_400(api: APIClient, rule: str) -> None:
    response = post(api, rule=rule)
    assert response.status_code == 400
    assert "one line" in response.json()["recurrence"]["rule"][0]
    assert not Task.objects.exists() and not RecurringSeries.objects.exists()


@pytest.mark.parametrize(
    "due_at", ["9999-12-31T23:00:00Z", "8999-01-01T00:00:00Z", "1971-01-01T00:00:00Z"]
)
def test_a_first_due_date_far_from_now_is_a_400(api: APIClient, due_at: str) -> None:
    started = time.perf_counter()
    response = post(api, due_at=due_at, rule="FREQ=HOURLY", timezone="America/New_York")
    assert time.perf_counter() - started < FAST
    assert response.status_code == 400
    assert "due_at" in response.json()
    assert not Task.objects.exists() and not RecurringSeries.objects.exists()


def test_an_until_near_the_end_of_time_is_a_400(api: APIClient) -> None:
    response = post(api, rule="FREQ=DAILY;UNTIL=99991231", timezone="America/New_York")
    assert response.status_code == 400
    assert "UNTIL" in response.json()["recurrence"]["rule"][0]
