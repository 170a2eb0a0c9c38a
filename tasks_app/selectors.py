"""Reads of tasks: the owner's queryset, full-text search and multi-key ordering."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, OrderBy, Prefetch, QuerySet, prefetch_related_objects
from django.http import Http404

from tasks_app.models import Task

ORDERING_KEYS = ("priority", "due_at", "created_at", "updated_at", "title", "rank")
DEFAULT_ORDERING = ("-priority", "due_at")
NULLABLE_ORDERING_KEYS = frozenset({"due_at"})


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


def task_search(queryset: QuerySet[Task], text: str) -> QuerySet[Task]:
    """Match `text` (web search syntax: quotes, OR, -word) and annotate `rank`."""
    query = SearchQuery(text, search_type="websearch", config=settings.SEARCH_CONFIG)
    return queryset.filter(search_vector=query).annotate(rank=SearchRank(F("search_vector"), query))


def split_comma_list(raw: str) -> list[str]:
    """`"a, b"` -> `["a", "b"]`: items around commas, spaces trimmed; an empty item is an
    error (the API schema's patterns say exactly this)."""
    items = [part.strip(" ") for part in raw.split(",")]
    if not all(items):
        raise ValueError("Give a comma list without empty items.")
    return items


def parse_ordering(raw: str) -> list[str]:
    """Split and check an `ordering` value; raise ValueError naming the bad key.

    A key given again is ignored: the first mention decides its direction.
    """
    keys: list[str] = []
    seen: set[str] = set()
    for key in split_comma_list(raw):
        name = key.removeprefix("-")
        if name not in ORDERING_KEYS:
            raise ValueError(f"Unknown ordering key {name!r}; use {', '.join(ORDERING_KEYS)}.")
        if name not in seen:
            seen.add(name)
            keys.append(key)
    return keys


def task_order(queryset: QuerySet[Task], keys: list[str]) -> QuerySet[Task]:
    """Order by `keys`; tasks without a due date come last whichever way due_at sorts."""
    expressions: list[OrderBy] = []
    for key in keys:
        descending = key.startswith("-")
        name = key.removeprefix("-")
        expression = F(name)
        # Only due_at can be NULL. Leaving NULLS LAST off the other keys keeps the ORDER BY
        # identical to the list indexes (see Task.Meta), so a page is read straight off one.
        nulls_last = True if name in NULLABLE_ORDERING_KEYS else None
        expressions.append(
            expression.desc(nulls_last=nulls_last)
            if descending
            else expression.asc(nulls_last=nulls_last)
        )
    # A unique tail keeps pages stable when the chosen keys tie.
    expressions.extend([F("created_at").desc(), F("id").asc()])
    return queryset.order_by(*expressions)
