"""Task tools for a chatbot, on the same serializers and services as the REST API.

Every tool is a plain sync function whose first argument is the calling user; `as_mcp_function`
turns each into the async, typed callable the MCP server publishes. The tools are an adapter:
they shape input with the REST serializers and filters and call the apps' services and
selectors (planning for writes that span apps), so a bad value gets the very message the REST
API would give. A tool error's text is the JSON body of the REST answer (`{"title": ["..."]}`,
`{"detail": ...}`), for arguments of the wrong type or unknown to the tool as well.
"""

from __future__ import annotations

import functools
import inspect
import json
import operator
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pydantic
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections
from django.http import Http404, QueryDict
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import Field, WithJsonSchema
from rest_framework.exceptions import ValidationError

from accounts_app.authentication import WRITE_SCOPE_NEEDED
from chatbot_app.principal import CredentialRejected, current_principal
from planning import services as planning
from planning.serializers import TaskCreateSerializer, TaskSerializer, TaskUpdateSerializer
from tasks_app import services
from tasks_app.models import Task
from tasks_app.selectors import reminders_load, task_fresh, task_get, task_list
from webapp.api.errors import as_drf_validation_error
from webapp.api.pagination import MAX_PAGE_SIZE, page_of

ToolFunction = Callable[..., dict[str, Any]]

PriorityName = Literal["low", "medium", "high", "urgent"]
StatusName = Literal["pending", "completed"]
TaskId = Annotated[str, Field(description="the task's id (a UUID)")]
Priority = Annotated[PriorityName, Field(description="low, medium, high or urgent")]
DueAt = Annotated[
    str | None, Field(description="RFC 3339 time with an offset, e.g. 2026-05-01T09:00:00+02:00")
]
DEFAULT_TOOL_PAGE_SIZE = 20


@dataclass(frozen=True)
class ToolSpec:
    """A tool as registered: `function` carries the published signature (see `_published`),
    `arguments` the strict model its arguments are checked against before it runs."""

    function: ToolFunction
    write: bool
    title: str
    arguments: type[pydantic.BaseModel]

    @property
    def name(self) -> str:
        return self.function.__name__


REGISTRY: list[ToolSpec] = []


def tool(*, title: str, write: bool) -> Callable[[ToolFunction], ToolFunction]:
    def register(function: ToolFunction) -> ToolFunction:
        signature = inspect.signature(function, eval_str=True)
        user, *parameters = signature.parameters.values()

        @functools.wraps(function)
        def published(*args: Any, **kwargs: Any) -> dict[str, Any]:
            return function(*args, **kwargs)

        # What the MCP server builds its input schema from: every type's schema (enums,
        # descriptions, defaults), but any value let through to check_arguments.
        published.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[user, *map(_published, parameters)]
        )
        del published.__wrapped__  # so inspect.signature reads __signature__, not the original
        REGISTRY.append(
            ToolSpec(
                function=published,
                write=write,
                title=title,
                arguments=_argument_model(function.__name__, parameters),
            )
        )
        return function

    return register


def check_arguments(spec: ToolSpec, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of a call, checked against the tool's strict model: a value of the wrong
    JSON type, a missing one or one the tool does not have is a ToolFailure whose body is the
    REST API's 400 body (`{"priority": ["Input should be 'low', ..."]}`)."""
    try:
        checked = spec.arguments.model_validate(dict(raw))
    except pydantic.ValidationError as exc:
        raise ToolFailure(argument_errors(exc)) from None
    return {name: getattr(checked, name) for name in type(checked).model_fields}


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
        arguments = check_arguments(spec, arguments)
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


def _published(parameter: inspect.Parameter) -> inspect.Parameter:
    """The parameter as the SDK sees it: the real type's JSON schema (enums, descriptions,
    default) for the client, but any value accepted, so the type check is the tool's own and
    its error the REST API's JSON body rather than the SDK's text."""
    schema = pydantic.TypeAdapter(parameter.annotation).json_schema()
    return parameter.replace(annotation=Annotated[Any, WithJsonSchema(schema)])


def _json_type(annotation: Any) -> Any:
    """`annotation` with each Literal (an enum in the schema) widened to its value type: the
    arguments model checks JSON types only, and the value is checked by the REST serializer
    behind the tool, so a bad choice gets REST's message beside the other fields' errors."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return type(args[0])
    if origin is Annotated:
        return Annotated[(_json_type(args[0]), *annotation.__metadata__)]
    if origin in (types.UnionType, typing.Union):
        return functools.reduce(operator.or_, map(_json_type, args))
    if origin is list:
        return list[_json_type(args[0])]  # type: ignore[misc]
    return annotation


def _argument_model(name: str, parameters: list[inspect.Parameter]) -> type[pydantic.BaseModel]:
    """The tool's arguments as a strict model: JSON types as the schema gives them (no "7"
    for 7), and no argument the tool does not have (REST answers an unknown field with 400)."""
    fields: dict[str, Any] = {
        parameter.name: (
            _json_type(parameter.annotation),
            ... if parameter.default is inspect.Parameter.empty else parameter.default,
        )
        for parameter in parameters
    }
    config = pydantic.ConfigDict(extra="forbid", strict=True)
    model: type[pydantic.BaseModel] = pydantic.create_model(
        f"{name}_arguments", __config__=config, **fields
    )
    return model


def argument_errors(exc: pydantic.ValidationError) -> dict[str, list[str]]:
    """Pydantic's errors as the REST API's 400 body: a message per argument."""
    body: dict[str, list[str]] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "non_field_errors"
        message = "Unknown field." if error["type"] == "extra_forbidden" else error["msg"] + "."
        body.setdefault(name, []).append(message)
    return body


def as_mcp_function(spec: ToolSpec) -> Callable[..., Any]:
    """An async callable for `MCPServer.add_tool` that sees the call's raw arguments (through
    the SDK's Context), so an argument the tool does not have is refused like REST's unknown
    field instead of being dropped by the SDK before the tool runs. The work runs in Django's
    thread-sensitive executor; a refusal is an error result whose text is the JSON body.
    """
    signature = inspect.signature(spec.function)
    parameters = list(signature.parameters.values())[1:]

    async def call(ctx: Context, **validated_by_sdk: Any) -> dict[str, Any] | CallToolResult:
        params = ctx.request_context.params or {}
        raw = params.get("arguments") or {}
        try:
            check_arguments(spec, raw)
            result: dict[str, Any] = await sync_to_async(run_tool, thread_sensitive=True)(
                spec, dict(raw)
            )
        except ToolFailure as failure:
            text = json.dumps(failure.body, ensure_ascii=False)
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        return result

    context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    call.__name__ = spec.name
    call.__doc__ = spec.function.__doc__
    call.__signature__ = signature.replace(parameters=[*parameters, context])  # type: ignore[attr-defined]
    call.__annotations__ = {
        **{parameter.name: parameter.annotation for parameter in parameters},
        "ctx": Context,
        "return": signature.return_annotation,
    }
    return call


# --- helpers -----------------------------------------------------------------------------------


def task_data(task: Task) -> dict[str, Any]:
    fresh = task_fresh(task_id=task.pk)
    reminders_load([fresh])
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
    """PATCH semantics: the REST update serializer, then the same service as PATCH."""
    changes = validate_with(TaskUpdateSerializer, data, partial=True)
    reminders = changes.pop("reminders", None)
    return task_data(planning.task_update(task=task, changes=changes, reminders=reminders))


def _given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


# --- tools -------------------------------------------------------------------------------------


@tool(title="Add a task", write=True)
def add_task(
    user: User,
    title: Annotated[str, Field(description="1-200 characters")],
    description: Annotated[str | None, Field(description="up to 5000 characters")] = None,
    priority: Annotated[
        PriorityName | None, Field(description="low, medium (default), high or urgent")
    ] = None,
    tags: Annotated[list[str] | None, Field(description="lower-case labels: a-z 0-9 _ -")] = None,
    due_at: DueAt = None,
) -> dict[str, Any]:
    """Create a task for the user and return it."""
    data = _given(title=title, description=description, priority=priority, tags=tags, due_at=due_at)
    validated = validate_with(TaskCreateSerializer, data)
    return task_data(planning.task_create(owner=user, **validated))


@tool(title="List tasks", write=False)
def list_tasks(
    user: User,
    search: Annotated[
        str | None, Field(description="words to find in title, description and tags")
    ] = None,
    status: Annotated[StatusName | None, Field(description="pending or completed")] = None,
    priority: Annotated[
        list[PriorityName] | None, Field(description="any of these priorities (low..urgent)")
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
    rows, meta = page_of(task_list(user=user, filters=query), page=page, page_size=page_size)
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
    priority: Annotated[
        PriorityName | None, Field(description="low, medium, high or urgent")
    ] = None,
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
    planning.task_delete(task=task)
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
    return task_data(services.task_tags_change(task=task, add=[tag]))


@tool(title="Remove a tag", write=True)
def remove_tag(user: User, task_id: TaskId, tag: str) -> dict[str, Any]:
    """Remove one tag from a task."""
    task = task_get(user=user, task_id=task_id)
    return task_data(services.task_tags_change(task=task, remove=[tag]))
