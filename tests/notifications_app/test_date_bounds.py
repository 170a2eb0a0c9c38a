"""Due dates whose reminder times cannot be computed are refused at the API, never crash later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from notifications_app.services import reminder_fire_at
from tests.conftest import create_task


@pytest.mark.parametrize(
    "due_at", ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z"]
)
def test_patching_due_at_outside_the_supported_range_is_a_400(api: APIClient, due_at: str) -> None:
    task = create_task(api, due_at="2031-01-01T09:00:00Z", reminders=[{"before": "PT1M"}])

    response = api.patch(f"/api/v1/tasks/{task['id']}/", {"due_at": due_at}, format="json")

    assert response.status_code == 400, response.content
    assert "due_at" in response.json()
    after = api.get(f"/api/v1/tasks/{task['id']}/").json()
    assert after["due_at"] == "2031-01-01T09:00:00Z"


def test_creating_a_task_due_outside_the_supported_range_is_a_400(api: APIClient) -> None:
    response = api.post(
        "/api/v1/tasks/",
        {"title": "Ancient", "due_at": "0001-01-01T00:00:00Z", "reminders": [{"before": "P1D"}]},
        format="json",
    )

    assert response.status_code == 400, response.content
    assert "due_at" in response.json()


def test_due_dates_at_the_edges_of_the_range_are_accepted(api: APIClient) -> None:
    low = create_task(api, due_at="1970-01-01T00:00:00Z", reminders=[{"before": "P365D"}])
    high = create_task(api, due_at="8999-12-31T23:59:59Z", reminders=[{"before": "PT1M"}])

    assert low["due_at"] == "1970-01-01T00:00:00Z"
    assert high["due_at"] == "8999-12-31T23:59:59Z"


def test_a_fire_time_before_the_first_representable_moment_does_not_raise() -> None:
    # Rows written before the bound existed must not crash the notifications worker.
    earliest = datetime.min.replace(tzinfo=UTC)

    fire_at = reminder_fire_at(before=timedelta(minutes=1), at=None, due_at=earliest)

    assert fire_at == earliest
