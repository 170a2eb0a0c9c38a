"""Push through firebase-admin against a local stand-in for FCM (token exchange and v1 send)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from django.contrib.auth.models import User

from notifications_app.models import Device, Notification, NotificationStatus, ReminderStatus
from tests.notifications_app.conftest import Fcm, add_device, reminders_of, task_with_reminders
from webapp.events.runtimes.inline import InlineRuntime

DUE = datetime(2031, 6, 1, 9, 0, tzinfo=UTC)


def _fire_push_reminder(owner: User, inline_runtime: InlineRuntime) -> Notification:
    with time_machine.travel(DUE - timedelta(days=1), tick=False):
        task = task_with_reminders(
            owner,
            due_at=DUE,
            title="Water the plants",
            reminders=[{"before": timedelta(minutes=15), "channels": ["push"]}],
        )
    with time_machine.travel(DUE - timedelta(minutes=15), tick=False):
        inline_runtime.fire_due_jobs()
    return Notification.objects.get(task=task)


def test_the_v1_request_carries_each_device_token_title_and_body(
    owner: User, fcm: Fcm, inline_runtime: InlineRuntime
) -> None:
    add_device(owner, "phone-token")
    add_device(owner, "tablet-token")

    row = _fire_push_reminder(owner, inline_runtime)

    assert row.status == NotificationStatus.SENT
    assert sorted(send["body"]["message"]["token"] for send in fcm.sends) == [
        "phone-token",
        "tablet-token",
    ]
    message = fcm.sends[0]["body"]["message"]
    assert message["notification"]["title"] == "Reminder: Water the plants"
    assert message["notification"]["body"].startswith("Water the plants\nDue Sun 01 Jun 2031")
    assert message["data"]["task_id"] == str(row.task_id)
    # The OAuth exchange went to the local token endpoint, and its token was used.
    assert fcm.token_requests >= 1
    assert {send["authorization"] for send in fcm.sends} == {"Bearer local-access-token"}


def test_a_token_fcm_calls_unregistered_is_removed_and_the_others_still_get_it(
    owner: User, fcm: Fcm, inline_runtime: InlineRuntime
) -> None:
    add_device(owner, "stale-token")
    add_device(owner, "live-token")
    fcm.unregistered.add("stale-token")

    row = _fire_push_reminder(owner, inline_runtime)

    assert row.status == NotificationStatus.SENT
    assert list(Device.objects.values_list("token", flat=True)) == ["live-token"]


def test_when_every_device_is_unregistered_push_is_skipped_not_retried(
    owner: User, fcm: Fcm, inline_runtime: InlineRuntime
) -> None:
    add_device(owner, "stale-token")
    fcm.unregistered.add("stale-token")

    row = _fire_push_reminder(owner, inline_runtime)

    assert (row.status, row.attempts) == (NotificationStatus.SKIPPED, 1)
    assert len(fcm.sends) == 1
    assert not Device.objects.exists()
    assert reminders_of(row.task)[0].status == ReminderStatus.SKIPPED  # type: ignore[arg-type]


def test_an_fcm_error_is_retried_then_the_push_fails(
    owner: User, fcm: Fcm, inline_runtime: InlineRuntime
) -> None:
    add_device(owner, "broken-token")
    fcm.failing.add("broken-token")

    row = _fire_push_reminder(owner, inline_runtime)

    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 4)
    assert len(fcm.sends) == 4
    assert Device.objects.count() == 1  # only UNREGISTERED removes a device


def test_without_firebase_credentials_push_reports_not_configured(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    add_device(owner, "phone-token")

    row = _fire_push_reminder(owner, inline_runtime)

    assert row.status == NotificationStatus.SKIPPED
    assert "not configured" in row.error
