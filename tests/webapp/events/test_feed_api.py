"""GET /api/v1/events/: the user's own change feed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.test import APIClient

from tests.conftest import create_task
from tests.webapp.events.conftest import emit_test_event
from webapp.events.models import OutboxEvent
from webapp.events.outbox import emit

URL = "/api/v1/events/"


def test_feed_lists_own_events_in_sequence_order_as_envelopes(api: APIClient, owner: User) -> None:
    task = create_task(api, title="Feed me")
    api.post(f"/api/v1/tasks/{task['id']}/complete/")

    body = api.get(URL).json()

    rows = list(OutboxEvent.objects.filter(user=owner).order_by("sequence"))
    assert body["results"] == [row.envelope for row in rows]
    assert [e["type"] for e in body["results"]][:2] == [
        "todo.task.created.v1",
        "todo.task.completed.v1",
    ]
    assert body["next_after"] == rows[-1].sequence


def test_feed_reads_on_from_next_after(api: APIClient, owner: User) -> None:
    made = [emit_test_event(owner, n=n) for n in range(5)]

    first = api.get(URL, {"limit": 2}).json()
    second = api.get(URL, {"after": first["next_after"], "limit": 2}).json()
    third = api.get(URL, {"after": second["next_after"], "limit": 2}).json()
    end = api.get(URL, {"after": third["next_after"]}).json()

    pages = [first, second, third]
    read = [e["data"]["n"] for page in pages for e in page["results"]]
    assert read == [0, 1, 2, 3, 4]
    assert [p["next_after"] for p in pages] == [
        made[1].sequence,
        made[3].sequence,
        made[4].sequence,
    ]
    # Nothing new: the given `after` comes back, so a poller can keep asking with it.
    assert end == {"results": [], "next_after": made[4].sequence}


def test_feed_never_shows_another_users_events(
    api: APIClient, outsider_api: APIClient, owner: User, outsider: User
) -> None:
    mine = emit_test_event(owner, who="owner")
    theirs = emit_test_event(outsider, who="outsider")
    create_task(outsider_api, title="Their task")

    body = api.get(URL).json()
    after_theirs = api.get(URL, {"after": theirs.sequence - 1}).json()

    assert [e["id"] for e in body["results"]] == [str(mine.event_id)]
    assert after_theirs["results"] == []
    assert all(e["partitionkey"] == str(owner.pk) for e in body["results"])


def test_feed_limit_defaults_to_100_and_allows_500(api: APIClient, owner: User) -> None:
    with transaction.atomic():
        for n in range(501):
            emit(
                topic="test-events",
                type="test.bulk.v1",
                subject="bulk",
                data={"n": n},
                user_id=owner.pk,
            )

    default = api.get(URL).json()
    most = api.get(URL, {"limit": 500}).json()

    assert len(default["results"]) == 100
    assert len(most["results"]) == 500
    assert most["results"][-1]["data"] == {"n": 499}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"after": -1}, "after"),
        ({"after": "x"}, "after"),
        ({"since": 3}, "since"),
    ],
)
def test_feed_rejects_bad_parameters(
    api: APIClient, params: dict[str, int | str], field: str
) -> None:
    response = api.get(URL, params)

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_feed_needs_authentication(anon: APIClient) -> None:
    assert anon.get(URL).status_code == 401


def test_feed_is_in_the_openapi_schema(api: APIClient) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"]["/api/v1/events/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"after", "limit"}
    assert "200" in operation["responses"] and "400" in operation["responses"]
