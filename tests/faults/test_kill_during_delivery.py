"""kill -9 of the server while it is emailing a burst of reminders, then a restart.

GIVEN many email reminders due at the same moment and a mail server that takes a while to
accept each message, WHEN the server's process group is killed while the messages go out and
serve starts again on the same data, THEN every reminder ends `sent` with one delivery row,
one fired event and one sent event, and every reminder's email arrived.

What the README promises for the crash window: "a crash after the mail server accepted a
message but before it was recorded sends it again: email is at-least-once". So a reminder may
get a second copy, but only one, and only if its first copy was accepted before the kill.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.faults.conftest import (
    Answer,
    Platform,
    SmtpServer,
    call,
    eventually,
    register,
    settled,
)

REMINDERS = 60
SMTP_DELAY = 0.15  # seconds the mail server takes per message


@pytest.mark.slow
def test_after_kill_9_mid_delivery_every_reminder_is_sent_and_at_most_resent_once(
    platform: Callable[..., Platform], smtp: Callable[..., SmtpServer]
) -> None:
    mail = smtp(delay=SMTP_DELAY)
    mail.up()
    # The shortest lease allowed: the check job of the killed sender's rows fires 30 s after
    # the claim and hands them to the new process.
    server = platform(**mail.env(), NOTIFICATION_LEASE_SECONDS="30")
    base = server.start()
    account = register(base, "rea")

    fire_at = datetime.now(UTC) + timedelta(seconds=6)

    def create(n: int) -> Answer:
        body = {
            "title": f"reminded {n}",
            "due_at": (fire_at + timedelta(hours=1)).isoformat(),
            "reminders": [{"at": fire_at.isoformat(), "channels": ["email"]}],
        }
        return call(f"{base}/api/v1/tasks/", method="POST", body=body, token=account.token)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(REMINDERS)))
    assert [answer.status for answer in answers] == [201] * REMINDERS, answers[:3]
    assert datetime.now(UTC) < fire_at, "creating the reminders took too long for the scenario"

    eventually(lambda: mail.mailbox.count() >= 10, timeout=30, what="the first emails")
    server.kill()
    killed_at = time.monotonic()
    before_kill = mail.mailbox.count()
    assert before_kill < REMINDERS, "every email went out before the kill: nothing was cut"

    server.start()
    eventually(lambda: settled(server), timeout=90, what="the runtime catching up")

    with server.connect() as conn:
        reminders = conn.execute(
            "SELECT r.id, r.status, t.title FROM notifications_app_reminder r"
            " JOIN tasks_app_task t ON t.id = r.task_id WHERE t.owner_id = %s",
            [account.user_id],
        ).fetchall()
        deliveries = Counter(
            str(reminder_id)
            for (reminder_id,) in conn.execute(
                "SELECT reminder_id FROM notifications_app_notification"
                " WHERE user_id = %s AND channel = 'email' AND status = 'sent'",
                [account.user_id],
            ).fetchall()
        )
        events = Counter(
            (str(event_type), str(reminder_id))
            for event_type, reminder_id in conn.execute(
                "SELECT type, coalesce(envelope->'data'->'notification'->>'reminder_id',"
                " envelope->'data'->'reminder'->>'id') FROM events_outboxevent"
                " WHERE user_id = %s AND type IN"
                " ('todo.reminder.fired.v1', 'todo.notification.sent.v1')",
                [account.user_id],
            ).fetchall()
        )
    assert len(reminders) == REMINDERS
    assert Counter(status for _, status, _ in reminders) == {"sent": REMINDERS}
    ids = {str(reminder_id) for reminder_id, _, _ in reminders}
    assert deliveries == dict.fromkeys(ids, 1)
    assert events == {
        **{("todo.reminder.fired.v1", rid): 1 for rid in ids},
        **{("todo.notification.sent.v1", rid): 1 for rid in ids},
    }

    received = mail.mailbox.by_subject()
    expected = {f"Reminder: {title}" for _, _, title in reminders}
    assert set(received) == expected, "a reminder's email never arrived"
    resent = {subject for subject, count in received.items() if count > 1}
    assert all(received[subject] == 2 for subject in resent), received.most_common(3)
    accepted_before_kill = {subject for at, subject in mail.mailbox.received if at < killed_at}
    assert resent <= accepted_before_kill, "a copy was sent twice outside the crash window"
    assert server.stop() == 0, server.log_tail()
