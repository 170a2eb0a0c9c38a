"""Series endpoints, validation, per-occurrence deletes and the completion anchor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from recurrence_app.models import RecurringSeries
from tasks_app.models import Status, Task
from tests.recurrence_app.conftest import create_recurring, events_of, instances, job_of, series_of
from webapp.events import topics
from webapp.events.runtimes.inline import InlineRuntime

NOW = datetime(2026, 3, 2, 7, tzinfo=UTC)  # Monday 08:00 in Berlin
DUE = datetime(2026, 3, 2, 8, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock() -> Any:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.mark.parametrize(
    ("recurrence", "field", "message"),
    [
        ({"rule": "FREQ=DAILY;BYDAY=XX"}, "rule", "Invalid rule: invalid 'BYDAY': XX."),
        ({"rule": "FREQ=MINUTELY"}, "rule", "FREQ=MINUTELY is not supported"),
        ({"rule": "FREQ=DAILY;COUNT=5000"}, "rule", "COUNT may be at most 1000."),
        ({"rule": "FREQ=DAILY;UNTIL=20250101T000000Z"}, "rule", "End date must be in the future."),
        ({"rule": "FREQ=DAILY;COUNT=3;UNTIL=20270101"}, "rule", "COUNT and UNTIL cannot"),
        ({"rule": "FREQ=DAILY", "timezone": "Europe/Atlantis"}, "timezone", "Unknown time zone"),
        ({"rule": "FREQ=DAILY", "anchor": "whenever"}, "anchor", "is not a valid choice"),
        ({"rule": "FREQ=DAILY", "lead_time": "-PT15M"}, "lead_time", "from PT0S to P366D"),
        ({"rule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31"}, "rule", "no occurrence in the future"),
        ({"rule": "FREQ=DAILY", "colour": "red"}, "colour", "Unknown field."),
    ],
)
def test_bad_recurrence_is_a_400_that_changes_nothing(
    api: APIClient, recurrence: dict[str, Any], field: str, message: str
) -> None:
    response = api.post(
        "/api/v1/tasks/",
        {"title": "Pay rent", "due_at": DUE.isoformat(), "recurrence": recurrence},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["recurrence"][field]
    assert any(message in text for text in errors), errors
    assert not Task.objects.exists() and not RecurringSeries.objects.exists()


def test_recurring_task_needs_a_due_date(api: APIClient) -> None:
    response = api.post(
        "/api/v1/tasks/",
        {"title": "Pay rent", "recurrence": {"rule": "FREQ=MONTHLY"}},
        format="json",
    )
    assert response.status_code == 400
    assert "due_at" in response.json()
    assert not RecurringSeries.objects.exists()


def test_creating_emits_series_created_then_the_first_instance(api: APIClient) -> None:
    first = create_recurring(api, title="Pay rent", due_at=DUE.isoformat(), rule="FREQ=MONTHLY")
    created = events_of(topics.SERIES_CREATED, f"series/{first['series']}")
    assert len(created) == 1
    payload = created[0].envelope["data"]["series"]
    assert payload["rule"] == "FREQ=MONTHLY" and payload["lead_time"] == "PT0S"
    instance_event = events_of(topics.TASK_CREATED, f"tasks/{first['id']}")[0]
    assert instance_event.sequence > created[0].sequence
    assert job_of(first["series"]) is not None


def test_series_are_listed_and_shown_to_their_owner_only(
    api: APIClient, outsider_api: APIClient
) -> None:
    first = create_recurring(
        api,
        title="Standup",
        due_at=DUE.isoformat(),
        rule="FREQ=WEEKLY;BYDAY=MO,WE,FR",
        timezone="Europe/Berlin",
        lead_time="PT15M",
        anchor="due",
    )
    listed = api.get("/api/v1/series/").json()
    assert listed["count"] == 1
    shown = listed["results"][0]
    assert shown["id"] == first["series"] and shown["lead_time"] == "PT15M"
    assert shown["timezone"] == "Europe/Berlin" and shown["status"] == "active"
    assert outsider_api.get(f"/api/v1/series/{first['series']}/").status_code == 404
    assert outsider_api.get("/api/v1/series/").json()["count"] == 0
    assert outsider_api.delete(f"/api/v1/series/{first['series']}/").status_code == 404
    assert api.get("/api/v1/series/not-a-uuid/").status_code == 404


def test_occurrences_preview_the_next_n_without_exclusions(api: APIClient) -> None:
    first = create_recurring(
        api,
        title="Standup",
        due_at=DUE.isoformat(),
        rule="FREQ=WEEKLY;BYDAY=MO,WE,FR",
        timezone="Europe/Berlin",
    )
    api.post(f"/api/v1/tasks/{first['id']}/complete/")
    wednesday = instances(first["series"])[1]
    assert api.delete(f"/api/v1/tasks/{wednesday.id}/").status_code == 204
    response = api.get(f"/api/v1/series/{first['series']}/occurrences/?limit=3")
    assert response.status_code == 200
    # Monday 2 March 09:00 Berlin, then Wednesday 4 (deleted) is skipped.
    assert response.json()["occurrences"] == [
        "2026-03-02T08:00:00Z",
        "2026-03-06T08:00:00Z",
        "2026-03-09T08:00:00Z",
    ]
    assert (
        len(api.get(f"/api/v1/series/{first['series']}/occurrences/").json()["occurrences"]) == 10
    )
    for bad in ("0", "101", "x"):
        answer = api.get(f"/api/v1/series/{first['series']}/occurrences/?limit={bad}")
        assert answer.status_code == 400 and "limit" in answer.json()


def test_a_deleted_occurrence_is_never_regenerated(
    api: APIClient, inline_runtime: InlineRuntime, _clock: Any
) -> None:
    first = create_recurring(api, title="Gym", due_at=DUE.isoformat(), rule="FREQ=DAILY")
    api.post(f"/api/v1/tasks/{first['id']}/complete/")
    tomorrow = instances(first["series"])[1]
    api.delete(f"/api/v1/tasks/{tomorrow.id}/")
    assert series_of(first).excluded == [DUE + timedelta(days=1)]
    _clock.move_to(DUE + timedelta(days=3, minutes=1))
    inline_runtime.fire_due_jobs()
    occurrences = [t.occurrence for t in instances(first["series"])]
    assert occurrences == [DUE, DUE + timedelta(days=2), DUE + timedelta(days=3)]


def test_series_edit_updates_pending_unedited_instances(api: APIClient) -> None:
    first = create_recurring(api, title="Review", due_at=DUE.isoformat(), rule="FREQ=DAILY")
    response = api.patch(
        f"/api/v1/series/{first['series']}/",
        {"title": "Weekly review", "priority": "high", "tags": ["Work"]},
        format="json",
    )
    assert response.status_code == 200
    task = Task.objects.get(pk=first["id"])
    assert (task.title, task.priority, task.tags, task.is_exception) == (
        "Weekly review",
        3,
        ["work"],
        False,
    )
    updated = events_of(topics.TASK_UPDATED, f"tasks/{task.id}")
    assert updated[-1].envelope["data"]["changes"]["title"] == {
        "old": "Review",
        "new": "Weekly review",
    }
    series_event = events_of(topics.SERIES_UPDATED, f"series/{first['series']}")[-1]
    assert series_event.envelope["data"]["changes"]["priority"] == {"old": "medium", "new": "high"}


def test_series_edit_that_changes_nothing_emits_nothing(api: APIClient) -> None:
    first = create_recurring(api, title="Review", due_at=DUE.isoformat(), rule="FREQ=DAILY")
    response = api.patch(f"/api/v1/series/{first['series']}/", {"title": "Review"}, format="json")
    assert response.status_code == 200
    assert events_of(topics.SERIES_UPDATED, f"series/{first['series']}") == []


def test_rule_change_replaces_pending_instances_from_now_on(api: APIClient) -> None:
    first = create_recurring(
        api, title="Plan", due_at=DUE.isoformat(), rule="FREQ=DAILY", timezone="Europe/Berlin"
    )
    old_id = first["id"]
    response = api.patch(
        f"/api/v1/series/{first['series']}/", {"rule": "FREQ=WEEKLY;BYDAY=FR"}, format="json"
    )
    assert response.status_code == 200, response.content
    tasks = instances(first["series"])
    # Friday 6 March 09:00 Berlin replaces Monday's pending instance.
    assert [(t.occurrence, t.status) for t in tasks] == [
        (datetime(2026, 3, 6, 8, tzinfo=UTC), Status.PENDING)
    ]
    assert len(events_of(topics.TASK_DELETED, f"tasks/{old_id}")) == 1
    shown = response.json()
    assert shown["dtstart"] == "2026-03-06T08:00:00Z"
    assert shown["next_occurrence"] == "2026-03-13T08:00:00Z"
    job = job_of(first["series"])
    assert job is not None and job.due_at == datetime(2026, 3, 13, 8, tzinfo=UTC)


def test_time_zone_change_keeps_the_local_time(api: APIClient) -> None:
    first = create_recurring(
        api, title="Call", due_at=DUE.isoformat(), rule="FREQ=DAILY", timezone="Europe/Berlin"
    )
    response = api.patch(
        f"/api/v1/series/{first['series']}/", {"timezone": "America/New_York"}, format="json"
    )
    assert response.status_code == 200
    # 09:00 in New York on 2 March (EST, UTC-5).
    assert [t.due_at for t in instances(first["series"])] == [datetime(2026, 3, 2, 14, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule": "FREQ=SECONDLY"}, "rule"),
        ({"rule": "FREQ=DAILY;UNTIL=20250101"}, "rule"),
        ({"timezone": "Nowhere/Special"}, "timezone"),
        ({"lead_time": "-PT1H"}, "lead_time"),
        ({"status": "completed"}, "status"),
        ({"owner": 3}, "owner"),
    ],
)
def test_bad_series_edit_is_a_400_that_changes_nothing(
    api: APIClient, body: dict[str, Any], field: str
) -> None:
    first = create_recurring(api, title="Plan", due_at=DUE.isoformat(), rule="FREQ=DAILY")
    before = RecurringSeries.objects.get(pk=first["series"])
    response = api.patch(f"/api/v1/series/{first['series']}/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    after = RecurringSeries.objects.get(pk=first["series"])
    assert (after.rule, after.timezone, after.lead_time) == (
        before.rule,
        before.timezone,
        before.lead_time,
    )
    assert len(instances(first["series"])) == 1


def test_reminder_templates_are_copied_onto_generated_instances(api: APIClient) -> None:
    response = api.post(
        "/api/v1/tasks/",
        {
            "title": "Pay rent",
            "due_at": DUE.isoformat(),
            "recurrence": {"rule": "FREQ=DAILY"},
            "reminders": [{"before": "PT1H", "channels": ["in_app"]}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    first = response.json()
    assert series_of(first).reminder_templates == [{"before": "PT1H", "channels": ["in_app"]}]
    api.post(f"/api/v1/tasks/{first['id']}/complete/")
    second = instances(first["series"])[1]
    shown = api.get(f"/api/v1/tasks/{second.id}/").json()
    assert [(r["before"], r["channels"]) for r in shown["reminders"]] == [("PT1H", ["in_app"])]


def test_completion_anchor_counts_the_next_due_from_completion(api: APIClient, _clock: Any) -> None:
    first = create_recurring(
        api,
        title="Water cactus",
        due_at=DUE.isoformat(),
        rule="FREQ=DAILY;INTERVAL=3",
        timezone="Europe/Berlin",
        anchor="completion",
    )
    assert job_of(first["series"]) is None  # no job: only completion moves it
    _clock.move_to(datetime(2026, 3, 4, 13, tzinfo=UTC))  # done two days late, Wednesday
    api.post(f"/api/v1/tasks/{first['id']}/complete/")
    tasks = instances(first["series"])
    assert [t.due_at for t in tasks] == [DUE, datetime(2026, 3, 7, 8, tzinfo=UTC)]
    # Only one open instance: completing the old one again changes nothing.
    api.post(f"/api/v1/tasks/{first['id']}/reopen/")
    api.post(f"/api/v1/tasks/{first['id']}/complete/")
    assert len(instances(first["series"])) == 2


def test_deleting_the_open_completion_instance_moves_the_series_on(
    api: APIClient, _clock: Any
) -> None:
    first = create_recurring(
        api,
        title="Call mum",
        due_at=DUE.isoformat(),
        rule="FREQ=WEEKLY",
        timezone="Europe/Berlin",
        anchor="completion",
    )
    _clock.move_to(datetime(2026, 3, 3, 12, tzinfo=UTC))  # skipped on Tuesday
    assert api.delete(f"/api/v1/tasks/{first['id']}/").status_code == 204
    # Weekly from the day of skipping, at the usual 09:00: next Tuesday.
    assert [t.due_at for t in instances(first["series"])] == [datetime(2026, 3, 10, 8, tzinfo=UTC)]
    assert series_of(first).excluded == [DUE]


def test_lead_time_change_moves_the_job(api: APIClient) -> None:
    first = create_recurring(api, title="Standup", due_at=DUE.isoformat(), rule="FREQ=DAILY")
    response = api.patch(f"/api/v1/series/{first['series']}/", {"lead_time": "PT2H"}, format="json")
    assert response.status_code == 200 and response.json()["lead_time"] == "PT2H"
    job = job_of(first["series"])
    offset = job.due_at - (DUE + timedelta(days=1) - timedelta(hours=2)) if job else None
    assert offset is not None and timedelta(0) <= offset < timedelta(minutes=1)


def test_series_reminder_edit_reaches_pending_instances(api: APIClient) -> None:
    first = create_recurring(api, title="Standup", due_at=DUE.isoformat(), rule="FREQ=DAILY")
    response = api.patch(
        f"/api/v1/series/{first['series']}/",
        {"reminders": [{"before": "PT10M", "channels": ["in_app"]}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["reminders"] == [{"before": "PT10M", "channels": ["in_app"]}]
    shown = api.get(f"/api/v1/tasks/{first['id']}/").json()
    assert [(r["before"], r["channels"]) for r in shown["reminders"]] == [("PT10M", ["in_app"])]
    # One event for the one action: the series' (the notifications worker, the reminders'
    # owner, copies the templates onto the instances when it consumes it).
    updated = events_of(topics.SERIES_UPDATED, f"series/{first['series']}")[-1].envelope["data"]
    assert "reminders" in updated["changes"]
    assert events_of(topics.TASK_UPDATED, f"tasks/{first['id']}") == []
