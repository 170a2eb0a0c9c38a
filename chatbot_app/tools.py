"""Task tools for a chatbot, on the same serializers and services as the REST API.

Every tool is a plain sync function whose first argument is the calling user; `as_mcp_function`
turns each into the async, typed callable the MCP server publishes. Input is validated by the
REST serializers and filters, so a bad value gets the very message the REST API would give; a
tool error's text is the JSON body of the REST answer (`{"title": ["..."]}`, `{"detail": ...}`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage, Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections
from django.http import Http404, QueryDict
from mcp_types import CallToolResult, TextContent
from pydantic import Field
from rest_framework.exceptions import ValidationError

from accounts_app.authentication import WRITE_SCOPE_NEEDED
from chatbot_app.principal import CredentialRejected, current_principal
from tasks_app import services
from tasks_app.filters import TaskFilter
from tasks_app.models import Task
from tasks_app.selectors import task_get, task_queryset, with_reminders
from tasks_app.serializers import TaskCreateSerializer, TaskSerializer, TaskUpdateSerializer
from tasks_app.validation import normalize_tags
from webapp.api.errors import as_drf_validation_error
from webapp.api.pagination import MAX_PAGE_SIZE

ToolFunction = Callable[..., dict[str, Any]]

TaskId = Annotated[str, Field(description="the task's id (a UUID)")]
Priority = Annotated[str, Field(description="low, medium, high or urgent")]
DueAt = Annotated[
    str | None, Field(description="RFC 3339 time with an offset, e.g. 2026-05-01T09:00:00+02:00")
]
DEFAULT_TOOL_PAGE_SIZE = 20


@dataclass(frozen=True)
class ToolSpec:
    function: ToolFunction
    write: bool
    title: str

    @property
    def name(self) -> str:
        return self.function.__name__


REGISTRY: list[ToolSpec] = []


def tool(*, title: str, write: bool) -> Callable[[ToolFunction], ToolFunction]:
    def register(function: ToolFunction) -> ToolFunction:
        REGISTRY.append(ToolSpec(function=function, write=write, title=title))
        return function

    return register


class ToolFailure(Exception):
    """A call the REST API would have refused; `body` is the JSON body it would have sent."""

    def __init__(self, body: Any) -> None:
        super().__init__(body)
        self.body = body


def _plain(data: Any) -> Any:
    """JSON types only (UUIDs and times as strings), exactly as the REST API renders them."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def run_tool(spec: ToolSpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """Authenticate, check the scope and run one tool; every refusal becomes a ToolFailure."""
    close_old_connections()
    try:
        try:
            principal = current_principal()
        except CredentialRejected as exc:
            raise ToolFailure({"detail": str(exc)}) from None
        if spec.write and not principal.can_write:
            raise ToolFailure({"detail": WRITE_SCOPE_NEEDED})
        user = User.objects.filter(pk=principal.user_id, is_active=True).first()
        if user is None:
            raise ToolFailure({"detail": "The token's user is inactive."})
        try:
            result: dict[str, Any] = _plain(spec.function(user, **arguments))
        except DjangoValidationError as exc:
            raise ToolFailure(_plain(as_drf_validation_error(exc).detail)) from None
        except ValidationError as exc:
            raise ToolFailure(_plain(exc.detail)) from None
        except Http404 as exc:
            raise ToolFailure({"detail": str(exc)}) from None
        return result
    finally:
        close_old_connections()


def as_mcp_function(spec: ToolSpec) -> Callable[..., Any]:
    """The async callable the MCP server registers: the tool's signature without `user`.

    The work runs in Django's thread-sensitive executor, the one thread its ORM expects sync
    code to share, so the server's event loop never blocks on the database. A refusal is
    returned as an error result whose text is exactly the REST API's JSON error body (raising
    the SDK's ToolError would prefix the text and spoil the JSON).
    """
    signature = inspect.signature(spec.function, eval_str=True)
    parameters = list(signature.parameters.values())[1:]

    async def call(**arguments: Any) -> dict[str, Any] | CallToolResult:
        try:
            result: dict[str, Any] = await sync_to_async(run_tool, thread_sensitive=True)(
                spec, arguments
            )
        except ToolFailure as failure:
            text = json.dumps(failure.body, ensure_ascii=False)
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        return result

    call.__name__ = spec.name
    call.__doc__ = spec.function.__doc__
    call.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return call


# --- helpers -----------------------------------------------------------------------------------


def task_data(task: Task) -> dict[str, Any]:
    fresh = with_reminders(Task.objects.all()).get(pk=task.pk)
    data: dict[str, Any] = TaskSerializer(fresh).data
    return data


def validate_with(
    serializer_class: type[Any], data: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    validated: dict[str, Any] = dict(serializer.validated_data)
    return validated


def _update(task: Task, data: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics: the REST update serializer, then task_update."""
    changes = validate_with(TaskUpdateSerializer, data, partial=True)
    reminders = changes.pop("reminders", None)
    return task_data(services.task_update(task=task, changes=changes, reminders=reminders))


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def page_of(rows: Any, *, page: int, page_size: int) -> tuple[Any, dict[str, Any]]:
    """One page, with the REST API's checks and messages for page and page_size."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValidationError({"page_size": [f"Must be between 1 and {MAX_PAGE_SIZE}."]})
    paginator = Paginator(rows, page_size)
    try:
        current = paginator.page(page)
    except InvalidPage:
        raise Http404("Invalid page.") from None
    return current, {
        "count": paginator.count,
        "page": page,
        "page_size": page_size,
        "has_more": current.has_next(),
    }


# --- tools -------------------------------------------------------------------------------------


@tool(title="Add a task", write=True)
def add_task(
    user: User,
    title: Annotated[str, Field(description="1-200 characters")],
    description: Annotated[str | None, Field(description="up to 5000 characters")] = None,
    priority: Annotated[
        str | None, Field(description="low, medium (default), high or urgent")
    ] = None,
    tags: Annotated[list[str] | None, Field(description="lower-case labels: a-z 0-9 _ -")] = None,
    due_at: DueAt = None,
) -> dict[str, Any]:
    """Create a task for the user and return it."""
    data = _given(title=title, description=description, priority=priority, tags=tags, due_at=due_at)
    validated = validate_with(TaskCreateSerializer, data)
    return task_data(services.task_create(owner=user, **validated))


@tool(title="List tasks", write=False)
def list_tasks(
    user: User,
    search: Annotated[
        str | None, Field(description="words to find in title, description and tags")
    ] = None,
    status: Annotated[str | None, Field(description="pending or completed")] = None,
    priority: Annotated[
        list[str] | None, Field(description="any of these priorities (low..urgent)")
    ] = None,
    tags: Annotated[list[str] | None, Field(description="tasks with any of these tags")] = None,
    tags_all: Annotated[list[str] | None, Field(description="tasks with all of these tags")] = None,
    due_before: DueAt = None,
    due_after: DueAt = None,
    overdue: Annotated[bool | None, Field(description="pending and past due")] = None,
    has_due: Annotated[bool | None, Field(description="has a due date")] = None,
    recurring: Annotated[bool | None, Field(description="part of a recurring series")] = None,
    ordering: Annotated[
        str | None,
        Field(
            description="comma list of priority, due_at, created_at, updated_at, title, rank; "
            "'-' for descending; default -priority,due_at"
        ),
    ] = None,
    page: Annotated[int, Field(description="1-based page number")] = 1,
    page_size: Annotated[int, Field(description=f"1-{MAX_PAGE_SIZE}")] = DEFAULT_TOOL_PAGE_SIZE,
) -> dict[str, Any]:
    """Find the user's tasks: search, filters (all combined), ordering and pages."""
    query = QueryDict(mutable=True)
    scalars = {
        "search": search,
        "status": status,
        "due_before": due_before,
        "due_after": due_after,
        "ordering": ordering,
    }
    for name, value in scalars.items():
        if value is not None:
            query[name] = value
    for name, flag in {"overdue": overdue, "has_due": has_due, "recurring": recurring}.items():
        if flag is not None:
            query[name] = "true" if flag else "false"
    for name, values in {"priority": priority, "tags": tags, "tags_all": tags_all}.items():
        if values:
            query.setlist(name, values)
    task_filter = TaskFilter(query, queryset=with_reminders(task_queryset(user=user)))
    if not task_filter.is_valid():
        raise ValidationError(task_filter.errors)
    rows, meta = page_of(task_filter.qs, page=page, page_size=page_size)
    return {**meta, "results": TaskSerializer(rows, many=True).data}


@tool(title="Get a task", write=False)
def get_task(user: User, task_id: TaskId) -> dict[str, Any]:
    """One task of the user, with its reminders."""
    return task_data(task_get(user=user, task_id=task_id))


@tool(title="Update a task", write=True)
def update_task(
    user: User,
    task_id: TaskId,
    title: Annotated[str | None, Field(description="1-200 characters")] = None,
    description: Annotated[str | None, Field(description="up to 5000 characters")] = None,
    priority: Annotated[str | None, Field(description="low, medium, high or urgent")] = None,
    tags: Annotated[list[str] | None, Field(description="replaces all tags")] = None,
    due_at: DueAt = None,
    clear_due_at: Annotated[bool, Field(description="remove the due date")] = False,
) -> dict[str, Any]:
    """Change some fields of a task; fields left out stay as they are."""
    task = task_get(user=user, task_id=task_id)
    data = _given(title=title, description=description, priority=priority, tags=tags, due_at=due_at)
    if clear_due_at:
        if due_at is not None:
            raise ValidationError({"due_at": ["Give due_at or clear_due_at, not both."]})
        data["due_at"] = None
    return _update(task, data)


@tool(title="Complete a task", write=True)
def complete_task(user: User, task_id: TaskId) -> dict[str, Any]:
    """Mark a task done (a task already done stays as it is)."""
    return task_data(services.task_complete(task=task_get(user=user, task_id=task_id)))


@tool(title="Reopen a task", write=True)
def reopen_task(user: User, task_id: TaskId) -> dict[str, Any]:
    """Mark a completed task pending again."""
    return task_data(services.task_reopen(task=task_get(user=user, task_id=task_id)))


@tool(title="Delete a task", write=True)
def delete_task(user: User, task_id: TaskId) -> dict[str, Any]:
    """Delete a task (for a recurring task, only this occurrence)."""
    task = task_get(user=user, task_id=task_id)
    deleted = {"id": str(task.pk), "title": task.title}
    services.task_delete(task=task)
    return {"deleted": deleted}


@tool(title="Set a task's priority", write=True)
def set_priority(user: User, task_id: TaskId, priority: Priority) -> dict[str, Any]:
    """Set the priority by name: low, medium, high or urgent."""
    return _update(task_get(user=user, task_id=task_id), {"priority": priority})


@tool(title="Add a tag", write=True)
def add_tag(
    user: User, task_id: TaskId, tag: Annotated[str, Field(description="a-z 0-9 _ -, 1-32")]
) -> dict[str, Any]:
    """Add one tag to a task (adding a tag it has changes nothing)."""
    task = task_get(user=user, task_id=task_id)
    return _update(task, {"tags": [*task.tags, tag]})


@tool(title="Remove a tag", write=True)
def remove_tag(user: User, task_id: TaskId, tag: str) -> dict[str, Any]:
    """Remove one tag from a task."""
    task = task_get(user=user, task_id=task_id)
    try:
        (wanted,) = normalize_tags([tag])
    except DjangoValidationError:
        wanted = tag
    if wanted not in task.tags:
        raise ValidationError({"tag": [f"The task has no tag {tag!r}."]})
    return _update(task, {"tags": [existing for existing in task.tags if existing != wanted]})
