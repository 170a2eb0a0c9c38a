"""Email through a real SMTP server (aiosmtpd in the test process)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.contrib.auth.models import User
from prometheus_client import REGISTRY

from notifications_app.leases import CHECK_JOB_PREFIX
from notifications_app.models import (
    Notification,
    NotificationSettings,
    NotificationStatus,
    ReminderStatus,
)
from tests.notifications_app.conftest import (
    Fcm,
    Inbox,
    SmtpServer,
    add_device,
    free_port,
    reminders_of,
    task_with_reminders,
)
from webapp.events.models import OutboxEvent
from webapp.events.runtimes.inline import InlineRuntime

DUE = datetime(2031, 3, 14, 16, 30, tzinfo=UTC)  # 17:30 in Berlin (CET, before DST)


def _berlin(owner: User) -> None:
    NotificationSettings.objects.create(user=owner, timezone="Europe/Berlin")


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_reminder_an_hour_before_is_emailed_once_with_title_and_local_due_time(
    owner: User, smtp_server: SmtpServer, inline_runtime: InlineRuntime
) -> None:
    _berlin(owner)
    sent_before = _metric("todo_notification_deliveries_total", channel="email", status="sent")
    lags_before = _metric("todo_reminder_fire_lag_seconds_count")
    with time_machine.travel(DUE - timedelta(days=1), tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(hours=1), "channels": ["email"]}]
        )

    with time_machine.travel(DUE - timedelta(hours=1, seconds=1), tick=False):
        assert inline_runtime.fire_due_jobs() == []
    assert smtp_server.messages == []
    with time_machine.travel(DUE - timedelta(hours=1), tick=False):
        inline_runtime.fire_due_jobs()
        inline_runtime.fire_due_jobs()
    with time_machine.travel(DUE, tick=False):
        # Only the check of the delivery's lease is left; it finds the email delivered.
        [check] = inline_runtime.fire_due_jobs()
        assert check.startswith(CHECK_JOB_PREFIX)

    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["Subject"] == "Reminder: Submit the tax return"
    assert message["To"] == "olivia@example.com"
    assert smtp_server.inbox.envelopes[0][1] == ["olivia@example.com"]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    text, markup = plain.get_content(), html.get_content()
    for part in (text, markup):
        assert "Submit the tax return" in part
        assert "Fri 14 Mar 2031, 17:30 CET" in part
        assert f"https://todo.example.com/api/v1/tasks/{task.pk}/" in part
    [reminder] = reminders_of(task)
    assert reminder.status == ReminderStatus.SENT
    [row] = Notification.objects.filter(reminder=reminder)
    assert (row.channel, row.status, row.attempts) == ("email", "sent", 1)
    assert row.sent_at is not None
    sent = OutboxEvent.objects.filter(type="todo.notification.sent.v1")
    assert [event.envelope["data"]["notification"]["channel"] for event in sent] == ["email"]
    sent_after = _metric("todo_notification_deliveries_total", channel="email", status="sent")
    assert sent_after - sent_before == 1
    assert _metric("todo_reminder_fire_lag_seconds_count") - lags_before == 1


def test_with_smtp_down_push_and_in_app_arrive_and_email_fails_after_three_retries(
    owner: User, smtp_down: int, fcm: Fcm, inline_runtime: InlineRuntime
) -> None:
    add_device(owner, "phone-token")
    with time_machine.travel(DUE - timedelta(days=1), tick=False):
        task = task_with_reminders(
            owner,
            due_at=DUE,
            reminders=[{"before": timedelta(minutes=30), "channels": ["email", "push", "in_app"]}],
        )
    with time_machine.travel(DUE - timedelta(minutes=30), tick=False):
        inline_runtime.fire_due_jobs()

    rows = {row.channel: row for row in Notification.objects.filter(task=task)}
    assert rows["push"].status == NotificationStatus.SENT
    assert rows["in_app"].status == NotificationStatus.SENT
    assert rows["email"].status == NotificationStatus.FAILED
    assert rows["email"].attempts == 4  # the first try and three retries
    assert "SMTPConnectError" in rows["email"].error
    assert len(fcm.sends) == 1
    [reminder] = reminders_of(task)
    assert reminder.status == ReminderStatus.PARTIALLY_SENT

    failed = OutboxEvent.objects.filter(type="todo.notification.failed.v1").order_by("sequence")
    assert [event.topic for event in failed] == ["alerts", "alerts-dlq"]
    payload: dict[str, Any] = failed[0].envelope["data"]["notification"]
    assert (payload["channel"], payload["status"], payload["attempts"]) == ("email", "failed", 4)
    sent = OutboxEvent.objects.filter(type="todo.notification.sent.v1")
    assert sorted(e.envelope["data"]["notification"]["channel"] for e in sent) == [
        "in_app",
        "push",
    ]
    fired = OutboxEvent.objects.filter(type="todo.reminder.fired.v1")
    assert [event.subject for event in fired] == [f"reminders/{reminder.pk}"]


def test_without_smtp_the_email_goes_to_the_log_and_the_feed_says_so(
    owner: User, inline_runtime: InlineRuntime, caplog: Any
) -> None:
    with time_machine.travel(DUE - timedelta(days=1), tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(0), "channels": ["email", "in_app"]}]
        )
    with time_machine.travel(DUE, tick=False), caplog.at_level("INFO"):
        inline_runtime.fire_due_jobs()

    rows = {row.channel: row for row in Notification.objects.filter(task=task)}
    assert rows["email"].status == NotificationStatus.SKIPPED
    assert "not configured" in rows["email"].error
    assert rows["in_app"].status == NotificationStatus.SENT
    assert "Email is not configured" in rows["in_app"].body
    logged = [r for r in caplog.records if r.getMessage().startswith("email not configured")]
    assert len(logged) == 1
    assert "Submit the tax return" in logged[0].body
    assert reminders_of(task)[0].status == ReminderStatus.SENT


def test_it_logs_in_with_the_configured_user_and_password(
    owner: User, settings: Any, inline_runtime: InlineRuntime
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret-from-the-store")

    inbox, port = Inbox(), free_port()
    # Plain-text AUTH only because this local server has no certificate; production uses TLS.
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, authenticator=authenticate,
        auth_require_tls=False,
    )  # fmt: skip
    controller.start()
    settings.SMTP_HOST, settings.SMTP_PORT = "127.0.0.1", port
    settings.SMTP_USERNAME, settings.SMTP_PASSWORD = "mailer", "s3cret-from-the-store"
    try:
        with time_machine.travel(DUE - timedelta(days=1), tick=False):
            task_with_reminders(
                owner, due_at=DUE, reminders=[{"before": timedelta(0), "channels": ["email"]}]
            )
        with time_machine.travel(DUE, tick=False):
            inline_runtime.fire_due_jobs()
    finally:
        controller.stop()

    assert logins == [(b"mailer", b"s3cret-from-the-store")]
    assert len(inbox.messages) == 1


def test_reminders_firing_together_share_one_smtp_session(
    owner: User, smtp_server: SmtpServer, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(DUE - timedelta(days=1), tick=False):
        for title in ("Pay rent", "Call the bank", "Book flights"):
            task_with_reminders(
                owner,
                due_at=DUE,
                title=title,
                reminders=[{"before": timedelta(0), "channels": ["email"]}],
            )
    with time_machine.travel(DUE, tick=False):
        assert len(inline_runtime.fire_due_jobs()) == 3

    assert sorted(m["Subject"] for m in smtp_server.messages) == [
        "Reminder: Book flights",
        "Reminder: Call the bank",
        "Reminder: Pay rent",
    ]
    assert smtp_server.inbox.sessions == 1
