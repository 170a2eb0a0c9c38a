"""Topics and versioned event types of the event contract (ARCHITECTURE.md)."""

from __future__ import annotations

TASK_OPERATIONS = "task-operations"
TASK_MODIFICATIONS = "task-modifications"
ALERTS = "alerts"
ALL_TOPICS = (TASK_OPERATIONS, TASK_MODIFICATIONS, ALERTS)

TASK_CREATED = "todo.task.created.v1"
TASK_UPDATED = "todo.task.updated.v1"
TASK_COMPLETED = "todo.task.completed.v1"
TASK_REOPENED = "todo.task.reopened.v1"
TASK_DELETED = "todo.task.deleted.v1"
SERIES_CREATED = "todo.series.created.v1"
SERIES_UPDATED = "todo.series.updated.v1"
SERIES_DELETED = "todo.series.deleted.v1"
REMINDER_FIRED = "todo.reminder.fired.v1"
NOTIFICATION_SENT = "todo.notification.sent.v1"
NOTIFICATION_FAILED = "todo.notification.failed.v1"

TOPIC_OF_TYPE: dict[str, str] = {
    TASK_CREATED: TASK_OPERATIONS,
    TASK_COMPLETED: TASK_OPERATIONS,
    TASK_REOPENED: TASK_OPERATIONS,
    TASK_DELETED: TASK_OPERATIONS,
    SERIES_CREATED: TASK_OPERATIONS,
    SERIES_DELETED: TASK_OPERATIONS,
    TASK_UPDATED: TASK_MODIFICATIONS,
    SERIES_UPDATED: TASK_MODIFICATIONS,
    REMINDER_FIRED: ALERTS,
    NOTIFICATION_SENT: ALERTS,
    NOTIFICATION_FAILED: ALERTS,
}


def dead_letter_topic(topic: str) -> str:
    return f"{topic}-dlq"
