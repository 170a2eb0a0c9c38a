"""Reads of tasks: the owner's queryset, one task, and the filtered, ordered list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.http import Http404, QueryDict

from tasks_app.filters import DEFAULT_ORDERING, TaskFilter, task_order
from tasks_app.models import Task


def task_queryset(*, user: User) -> QuerySet[Task]:
    # The search vector is for the database's eyes only: reading it would ship and parse a
    # few hundred bytes a task for nothing.
    return Task.objects.filter(owner_id=user.pk).defer("search_vector")


def with_reminders(queryset: QuerySet[Task]) -> QuerySet[Task]:
    """`queryset` with each task's reminders read in one more query, for showing the tasks."""
    return queryset.prefetch_related(_reminders_prefetch())


def reminders_load(tasks: Sequence[Task]) -> None:
    """Read the reminders of `tasks` that do not have them yet, in one query."""
    missing = [task for task in tasks if Task.REMINDERS_LOADED not in task.__dict__]
    if missing:
        prefetch_related_objects(missing, _reminders_prefetch())


def _reminders_prefetch() -> Prefetch[Any]:
    return Prefetch("reminders", to_attr=Task.REMINDERS_LOADED)


def task_get(*, user: User, task_id: object) -> Task:
    """The user's task or a 404: another user's task is indistinguishable from a missing one."""
    try:
        pk = task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id))
    except ValueError:
        # A malformed id names no task: answer as for a missing one, not with a 400.
        raise Http404("No task matches the given query.") from None
    try:
        return task_queryset(user=user).get(pk=pk)
    except Task.DoesNotExist:
        raise Http404("No task matches the given query.") from None


def task_fresh(*, task_id: uuid.UUID) -> Task:
    """The task as stored now (no owner check: for services holding a task already)."""
    return Task.objects.get(pk=task_id)


def task_list(*, user: User, filters: QueryDict) -> QuerySet[Task]:
    """The user's tasks matching `filters` (the list's query parameters, paging excluded), in
    the order they ask for, with their reminders read for showing them.

    The one list for REST and MCP alike. A parameter that is unknown, empty or invalid is a
    ValidationError with a message per parameter; unknown ones are reported first.
    """
    if not filters:
        # The plain list, the one asked most: its order without building a FilterSet (a copy
        # of every filter and a form), which costs more than the page's SQL.
        return task_order(with_reminders(task_queryset(user=user)), list(DEFAULT_ORDERING))
    unknown = set(filters) - set(TaskFilter.base_filters)
    if unknown:
        raise ValidationError({name: ["Unknown query parameter."] for name in sorted(unknown)})
    # `?series=` is no filter to django-filter, but not a UUID to the schema: refuse it.
    empty = sorted(name for name, values in filters.lists() if any(v == "" for v in values))
    if empty:
        raise ValidationError({name: ["This parameter may not be empty."] for name in empty})
    task_filter = TaskFilter(filters, queryset=with_reminders(task_queryset(user=user)))
    if not task_filter.is_valid():
        raise ValidationError(task_filter.errors)
    rows: QuerySet[Task] = task_filter.qs
    return rows
