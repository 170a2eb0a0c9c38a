"""The mail server away when reminders fall due, then back.

The README's budget: a failing channel is retried 3 times, `NOTIFICATION_RETRY_DELAYS` seconds
apart, then marked failed with its error and published as `todo.notification.failed.v1` on
`alerts` and `alerts-dlq`. Here the delays are 1, 2 and 3 s:

- reminders due while SMTP stays down past the budget end `failed`, each with the reason, and
  no email is sent later behind the user's back;
- reminders due while SMTP is down, which comes back within the budget, are delivered once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.faults.conftest import (
    Account,
    Platform,
    SmtpServer,
    call,
    eventually,
    register,
    settled,
)

REMINDERS = 10


def _remind(base: str, account: Account, prefix: str, *, in_seconds: float) -> None:
    fire_at = datetime.now(UTC) + timedelta(seconds=in_seconds)

    def create(n: int) -> int:
        body = {
            "title": f"{prefix} {n}",
            "due_at": (fire_at + timedelta(hours=1)).isoformat(),
            "reminders": [{"at": fire_at.isoformat(), "channels": ["email"]}],
        }
        answer = call(f"{base}/api/v1/tasks/", method="POST", body=body, token=account.token)
        return answer.status

    with ThreadPoolExecutor(5) as pool:
        assert list(pool.map(create, range(REMINDERS))) == [201] * REMINDERS
    assert datetime.now(UTC) < fire_at, "creating the reminders took too long for the scenario"


def _emails(conn: psycopg.Connection[Any], prefix: str) -> list[tuple[str, str, int, str]]:
    """(reminder status, notification status, attempts, error) of each reminder's email."""
    rows = conn.execute(
        "SELECT r.status, n.status, n.attempts, n.error FROM notifications_app_notification n"
        " JOIN notifications_app_reminder r ON r.id = n.reminder_id"
        " JOIN tasks_app_task t ON t.id = r.task_id"
        " WHERE n.channel = 'email' AND t.title LIKE %s",
        [f"{prefix} %"],
    ).fetchall()
    return [(str(a), str(b), int(c), str(d)) for a, b, c, d in rows]


def _failed_events(conn: psycopg.Connection[Any]) -> Counter[str]:
    rows = conn.execute(
        "SELECT topic FROM events_outboxevent WHERE type = 'todo.notification.failed.v1'"
    ).fetchall()
    return Counter(str(topic) for (topic,) in rows)


@pytest.mark.slow
def test_reminders_due_while_smtp_is_down_fail_with_a_reason_or_arrive_once_it_is_back(
    platform: Callable[..., Platform], smtp: Callable[..., SmtpServer]
) -> None:
    mail = smtp()  # configured, not listening: every connection is refused
    server = platform(**mail.env(), NOTIFICATION_RETRY_DELAYS="1,2,3")
    base = server.start()
    account = register(base, "sol")

    # SMTP stays down past the retry budget.
    _remind(base, account, "lost", in_seconds=4)
    with server.connect() as conn:
        eventually(
            lambda: (
                all(row[1] == "failed" for row in _emails(conn, "lost"))
                and len(_emails(conn, "lost")) == REMINDERS
            ),
            timeout=60,
            what="the emails failing after their retries",
        )
        failed = _emails(conn, "lost")
        assert {(reminder, attempts) for reminder, _, attempts, _ in failed} == {("failed", 4)}
        assert all("SMTPConnectError" in error for *_, error in failed), failed[0]
        assert _failed_events(conn) == {"alerts": REMINDERS, "alerts-dlq": REMINDERS}

    # Down when they fall due, back before the budget is spent.
    _remind(base, account, "late", in_seconds=4)
    with server.connect() as conn:
        eventually(
            lambda: (
                len(_emails(conn, "late")) == REMINDERS
                and all(row[1] == "pending" and row[2] >= 1 for row in _emails(conn, "late"))
            ),
            timeout=30,
            what="a first failed attempt of every email",
        )
        mail.up()
        eventually(lambda: settled(server), timeout=60, what="the deliveries settling")
        delivered = _emails(conn, "late")
        assert {(reminder, email) for reminder, email, _, _ in delivered} == {("sent", "sent")}
        assert all(attempts >= 2 for _, _, attempts, _ in delivered), delivered
        assert _failed_events(conn) == {"alerts": REMINDERS, "alerts-dlq": REMINDERS}

    received = mail.mailbox.by_subject()
    assert received == {f"Reminder: late {n}": 1 for n in range(REMINDERS)}
    assert server.stop() == 0, server.log_tail()
