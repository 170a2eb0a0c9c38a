"""The task's shape inside `todo.task.*.v1` events."""

from __future__ import annotations

from typing import Any

from tasks_app.models import Priority, Task


def task_payload(task: Task) -> dict[str, Any]:
    return {
        "id": str(task.id),
        "user_id": task.owner_id,
        "title": task.title,
        "description": task.description,
        "status": task.status,
        "priority": Priority(task.priority).label,
        "tags": list(task.tags),
        "due_at": task.due_at,
        "completed_at": task.completed_at,
        "series": str(task.series_id) if task.series_id else None,
        "occurrence": task.occurrence,
        "is_exception": task.is_exception,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
    }


def task_subject(task: Task) -> str:
    return f"tasks/{task.id}"
