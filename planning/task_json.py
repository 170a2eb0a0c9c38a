"""Task lists rendered by PostgreSQL: each task as the JSON text TaskSerializer would give.

Answering a page of 50 tasks through the ORM and DRF cost about 4 ms of CPU (50 model
instances, a second query for their reminders, 750 fields serialised) against well under a
millisecond of SQL. Here the page's one query returns each task's JSON, reminders included,
built by PostgreSQL as it reads the rows: the REST list answers about twice as fast (README,
Serving). Filters, search and ordering are the list's own queryset, unchanged.

The SQL renders exactly what `planning.serializers.TaskSerializer` (with
`notifications_app.serializers.ReminderSerializer`) renders; tests/planning/test_task_json.py
compares the two on tasks with every shape of every field. A field added to the serializer
must be added here too: that test fails until it is.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from notifications_app.models import Reminder
from tasks_app.models import Priority, Task

TASK = Task._meta.db_table
REMINDER = Reminder._meta.db_table


def _utc(column: str) -> str:
    """`column` (timestamptz) as UtcDateTimeField renders it: RFC 3339 in UTC, "Z", and
    microseconds only when there are some (as Python's isoformat)."""
    return (
        f"(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| CASE WHEN extract(microseconds FROM {column})::bigint %% 1000000 = 0 THEN '' "
        f"ELSE to_char({column} AT TIME ZONE 'UTC', '.US') END || 'Z')"
    )


def _iso_duration(column: str) -> str:
    """`column` (interval) as webapp.api.serializers.iso_duration renders it ("P1DT2H")."""
    seconds = f"trunc(extract(epoch FROM {column}))::bigint"
    days, hours = f"({seconds} / 86400)", f"({seconds} %% 86400 / 3600)"
    minutes, secs = f"({seconds} %% 3600 / 60)", f"({seconds} %% 60)"
    clock = " || ".join(
        f"CASE WHEN {part} > 0 THEN {part} || '{unit}' ELSE '' END"
        for part, unit in ((hours, "H"), (minutes, "M"), (secs, "S"))
    )
    return (
        f"CASE WHEN {seconds} = 0 THEN 'PT0S' ELSE 'P' "
        f"|| CASE WHEN {days} > 0 THEN {days} || 'D' ELSE '' END "
        f"|| CASE WHEN {seconds} %% 86400 > 0 THEN 'T' || {clock} ELSE '' END END"
    )


def _nullable(column: str, rendered: str) -> str:
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {rendered} END"


def _utc_or_null(column: str) -> str:
    return _nullable(column, _utc(column))


_PRIORITY_NAME = (
    f"CASE {TASK}.priority "
    + " ".join(f"WHEN {member.value} THEN '{member.label}'" for member in Priority)
    + " END"
)

# Only constants go into this text (the models' table names): nothing a client sends.
_REMINDERS = f"""COALESCE((
    SELECT json_agg(json_build_object(
        'id', r.id,
        'before', {_nullable("r.before", _iso_duration("r.before"))},
        'at', {_utc_or_null("r.at")},
        'channels', r.channels,
        'fire_at', {_utc_or_null("r.fire_at")},
        'status', r.status,
        'fired_at', {_utc_or_null("r.fired_at")}
    ) ORDER BY r.fire_at, r.created_at)
    FROM {REMINDER} AS r WHERE r.task_id = {TASK}.id
), '[]'::json)"""  # noqa: S608

# The keys in TaskSerializer's order, so a client sees the same text either way.
_TASK_JSON = f"""json_build_object(
    'id', {TASK}.id,
    'title', {TASK}.title,
    'description', {TASK}.description,
    'status', {TASK}.status,
    'priority', {_PRIORITY_NAME},
    'tags', {TASK}.tags,
    'due_at', {_utc_or_null(f"{TASK}.due_at")},
    'completed_at', {_utc_or_null(f"{TASK}.completed_at")},
    'series', {TASK}.series_id,
    'occurrence', {_utc_or_null(f"{TASK}.occurrence")},
    'is_exception', {TASK}.is_exception,
    'reminders', {_REMINDERS},
    'created_at', {_utc(f"{TASK}.created_at")},
    'updated_at', {_utc(f"{TASK}.updated_at")}
)::text"""


def as_json(tasks: QuerySet[Task]) -> QuerySet[Task, str]:
    """`tasks` (filtered and ordered as they are) as one JSON text per task.

    PostgreSQL computes the JSON (and runs the reminders' subquery) only for the rows a page
    returns, after ordering and LIMIT.
    """
    rows: QuerySet[Task, str] = tasks.prefetch_related(None).values_list(
        RawSQL(_TASK_JSON, ()),  # noqa: S611 (constants only, see _REMINDERS)
        flat=True,
    )
    return rows
