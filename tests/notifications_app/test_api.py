"""The reminders, notifications, devices and notification-settings endpoints."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from notifications_app.models import Device, Notification, Reminder
from planning.services import task_create
from tasks_app.models import Task
from tests.conftest import create_task
from webapp.events.models import OutboxEvent, ScheduledJob


def _due(hours: float = 48) -> str:
    return (timezone.now() + timedelta(hours=hours)).isoformat()


def test_reminders_given_at_creation_appear_on_the_task_with_their_fire_times(
    api: APIClient,
) -> None:
    due = timezone.now().replace(microsecond=0) + timedelta(days=2)
    task = create_task(
        api,
        due_at=due.isoformat(),
        reminders=[{"before": "P1D"}, {"before": "PT1H", "channels": ["push"]}],
    )

    shown = sorted(task["reminders"], key=lambda r: r["fire_at"])
    assert [(r["before"], r["status"]) for r in shown] == [
        ("P1D", "scheduled"),
        ("PT1H", "scheduled"),
    ]
    assert shown[0]["channels"] == ["email", "push", "in_app"]  # the user's defaults
    assert shown[1]["channels"] == ["push"]
    assert ScheduledJob.objects.filter(name__startswith="reminder-").count() == 2


def test_posting_and_deleting_a_reminder_keeps_the_others(api: APIClient) -> None:
    task = create_task(api, due_at=_due(), reminders=[{"before": "PT1H"}])
    [kept] = task["reminders"]

    added = api.post(f"/api/v1/tasks/{task['id']}/reminders/", {"before": "PT10M"}, format="json")
    assert added.status_code == 201, added.content
    listed = api.get(f"/api/v1/tasks/{task['id']}/reminders/").json()
    assert {r["id"] for r in listed} == {kept["id"], added.json()["id"]}

    assert api.delete(f"/api/v1/reminders/{added.json()['id']}/").status_code == 204
    listed = api.get(f"/api/v1/tasks/{task['id']}/reminders/").json()
    assert [r["id"] for r in listed] == [kept["id"]]
    assert list(ScheduledJob.objects.values_list("name", flat=True)) == [f"reminder-{kept['id']}"]
    updates = OutboxEvent.objects.filter(type="todo.task.updated.v1")
    assert [e.envelope["data"]["changes"].keys() for e in updates] == [{"reminders"}] * 2


def test_patching_a_task_with_reminders_replaces_them(api: APIClient) -> None:
    task = create_task(api, due_at=_due(), reminders=[{"before": "PT1H"}])
    response = api.patch(
        f"/api/v1/tasks/{task['id']}/",
        {"reminders": [{"before": "PT1H"}, {"before": "PT5M", "channels": ["in_app"]}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    ids = {r["id"] for r in response.json()["reminders"]}
    assert task["reminders"][0]["id"] in ids and len(ids) == 2


def _rejected(response: Any, fragment: str) -> None:
    assert response.status_code == 400, response.content
    assert any(fragment in message for message in response.json()["reminders"]), response.json()


def test_bad_reminders_are_400s_that_change_nothing(api: APIClient) -> None:
    past = (timezone.now() - timedelta(minutes=1)).isoformat()

    _rejected(
        api.post(
            "/api/v1/tasks/", {"title": "x", "reminders": [{"before": "PT1H"}]}, format="json"
        ),
        "needs a due date",
    )
    _rejected(
        api.post(
            "/api/v1/tasks/",
            {"title": "x", "due_at": _due(), "reminders": [{"at": past}]},
            format="json",
        ),
        "in the past",
    )
    eleven = [{"before": f"PT{minutes}M"} for minutes in range(11)]
    _rejected(
        api.post(
            "/api/v1/tasks/", {"title": "x", "due_at": _due(), "reminders": eleven}, format="json"
        ),
        "At most 10",
    )
    too_far = api.post(
        "/api/v1/tasks/",
        {"title": "x", "due_at": _due(), "reminders": [{"before": "P400D"}]},
        format="json",
    )
    assert too_far.status_code == 400
    assert "from PT0S to P365D" in str(too_far.json()["reminders"])
    unknown_channel = [{"before": "PT5M", "channels": ["sms"]}]
    assert api.post(
        "/api/v1/tasks/",
        {"title": "x", "due_at": _due(), "reminders": unknown_channel},
        format="json",
    ).json() == {"reminders": {"0": {"channels": {"0": ['"sms" is not a valid choice.']}}}}
    assert not Task.objects.exists()

    task = create_task(api, due_at=_due(), reminders=[{"before": "PT1H"}])
    url = f"/api/v1/tasks/{task['id']}/reminders/"
    unknown = api.post(url, {"before": "PT5M", "channels": ["sms"]}, format="json")
    assert unknown.status_code == 400
    assert unknown.json() == {"channels": {"0": ['"sms" is not a valid choice.']}}
    _rejected(api.post(url, {"at": past}, format="json"), "in the past")
    ten_more = [{"before": f"PT{minutes}M"} for minutes in range(2, 12)]
    _rejected(
        api.patch(
            f"/api/v1/tasks/{task['id']}/",
            {"reminders": [{"before": "PT1H"}, *ten_more]},
            format="json",
        ),
        "At most 10",
    )
    for _ in range(9):
        assert api.post(url, {"before": f"PT{_ + 2}M"}, format="json").status_code == 201
    _rejected(api.post(url, {"before": "PT30M"}, format="json"), "At most 10")
    assert Reminder.objects.count() == 10
    assert api.post(url, {"before": "PT1M", "fire_at": _due()}, format="json").json() == {
        "fire_at": ["This field is read-only."]
    }


def test_a_relative_reminder_on_a_task_without_due_date_is_rejected_on_the_subresource(
    api: APIClient,
) -> None:
    task = create_task(api)
    response = api.post(f"/api/v1/tasks/{task['id']}/reminders/", {"before": "PT1H"}, format="json")
    _rejected(response, "needs a due date")
    at = api.post(f"/api/v1/tasks/{task['id']}/reminders/", {"at": _due(1)}, format="json")
    assert at.status_code == 201, at.content


def test_other_users_reminders_devices_and_tasks_are_404(
    api: APIClient, outsider_api: APIClient, owner: User
) -> None:
    task = create_task(api, due_at=_due(), reminders=[{"before": "PT1H"}])
    reminder_id = task["reminders"][0]["id"]
    device = Device.objects.create(user=owner, token="t-1", platform="ios")

    assert outsider_api.get(f"/api/v1/tasks/{task['id']}/reminders/").status_code == 404
    assert (
        outsider_api.post(
            f"/api/v1/tasks/{task['id']}/reminders/", {"before": "PT5M"}, format="json"
        ).status_code
        == 404
    )
    assert outsider_api.delete(f"/api/v1/reminders/{reminder_id}/").status_code == 404
    assert outsider_api.delete(f"/api/v1/devices/{device.pk}/").status_code == 404
    assert Reminder.objects.count() == 1 and Device.objects.count() == 1


def test_devices_register_idempotently_and_can_be_removed(api: APIClient) -> None:
    first = api.post("/api/v1/devices/", {"token": "fcm-abc", "platform": "android"}, format="json")
    again = api.post("/api/v1/devices/", {"token": "fcm-abc", "platform": "android"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert (
        api.post("/api/v1/devices/", {"token": "x", "platform": "fax"}, format="json").status_code
        == 400
    )
    assert [d["token"] for d in api.get("/api/v1/devices/").json()] == ["fcm-abc"]
    assert api.delete(f"/api/v1/devices/{first.json()['id']}/").status_code == 204
    assert not Device.objects.exists()


def test_notification_settings_default_then_patch_with_a_checked_time_zone(
    api: APIClient,
) -> None:
    url = "/api/v1/me/notification-settings/"
    assert api.get(url).json() == {
        "email": True, "push": True, "in_app": True, "timezone": "UTC",
    }  # fmt: skip
    changed = api.patch(url, {"email": False, "timezone": "America/New_York"}, format="json")
    assert changed.status_code == 200
    assert api.get(url).json() == {
        "email": False, "push": True, "in_app": True, "timezone": "America/New_York",
    }  # fmt: skip
    bad = api.patch(url, {"timezone": "Mars/Olympus_Mons"}, format="json")
    assert bad.status_code == 400 and "timezone" in bad.json()
    assert api.patch(url, {"sms": True}, format="json").json() == {"sms": ["Unknown field."]}
    assert api.get(url).json()["timezone"] == "America/New_York"
    # New reminders default to the channels that are on.
    task = create_task(api, due_at=_due(), reminders=[{"before": "PT1H"}])
    assert task["reminders"][0]["channels"] == ["push", "in_app"]


def test_the_notification_feed_is_the_users_own_newest_first_and_filterable(
    api: APIClient, owner: User, outsider: User
) -> None:
    for channel in ("email", "in_app", "push"):
        Notification.objects.create(user=owner, channel=channel, title=f"t {channel}")
    Notification.objects.create(user=outsider, channel="in_app", title="not yours")

    page = api.get("/api/v1/notifications/").json()
    assert page["count"] == 3
    assert [n["channel"] for n in page["results"]] == ["push", "in_app", "email"]
    only = api.get("/api/v1/notifications/?channel=in_app").json()
    assert [n["title"] for n in only["results"]] == ["t in_app"]
    assert api.get("/api/v1/notifications/?channel=sms").status_code == 400
    assert api.get("/api/v1/notifications/?colour=red").status_code == 400


def test_the_service_rejects_an_unknown_channel_too(owner: User) -> None:
    """Callers other than the API (MCP tools, the recurrence worker) get the same rule."""
    with pytest.raises(ValidationError) as caught:
        task_create(
            owner=owner,
            title="x",
            due_at=timezone.now() + timedelta(days=1),
            reminders=[{"before": timedelta(hours=1), "channels": ["pigeon"]}],
        )
    assert caught.value.message_dict == {"reminders": ["Reminder 1: unknown channel 'pigeon'."]}
    assert not Task.objects.exists()


def test_a_reminder_made_with_every_channel_off_does_not_block_later_edits(
    api: APIClient,
) -> None:
    # Found by the contract test: the muted reminder's own spec (no channels) was refused, and
    # once channels were back on, re-adding it made adding another reminder a 500.
    settings_url = "/api/v1/me/notification-settings/"
    off = {"email": False, "push": False, "in_app": False}
    assert api.patch(settings_url, off, format="json").status_code == 200
    task = create_task(api, title="Muted", due_at=_due())
    muted = api.post(f"/api/v1/tasks/{task['id']}/reminders/", {"before": "PT1H"}, format="json")
    assert muted.status_code == 201 and muted.json()["channels"] == []
    assert api.patch(settings_url, {"in_app": True}, format="json").status_code == 200

    added = api.post(f"/api/v1/tasks/{task['id']}/reminders/", {"before": "PT2H"}, format="json")
    deleted = api.delete(f"/api/v1/reminders/{muted.json()['id']}/")

    assert added.status_code == 201 and added.json()["channels"] == ["in_app"]
    assert deleted.status_code == 204
    assert list(Reminder.objects.values_list("channels", flat=True)) == [["in_app"]]
