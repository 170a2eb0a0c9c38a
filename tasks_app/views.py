"""Thin task endpoints: validate, call one service, answer with the task."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from tasks_app import services
from tasks_app.filters import TaskFilter
from tasks_app.models import Task
from tasks_app.selectors import (
    ORDERING_KEYS,
    reminders_load,
    task_get,
    task_queryset,
    with_reminders,
)
from tasks_app.serializers import TaskCreateSerializer, TaskSerializer, TaskUpdateSerializer
from tasks_app.validation import TAG_CHARACTERS
from webapp.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from webapp.api.serializers import ErrorSerializer

PAGING_PARAMS = {"page", "page_size"}


def _comma_list(item: str) -> dict[str, Any]:
    """A query parameter taking `item`s separated by commas (spaces around them allowed)."""
    return {"type": "string", "pattern": f"^ *{item} *(?:, *{item} *)*$"}


def _repeated(item: dict[str, Any]) -> dict[str, Any]:
    """A query parameter that may be given several times (`?tags=a&tags=b,c`)."""
    return {"type": "array", "items": item}


PRIORITY_ITEM = "(?:low|medium|high|urgent)"
ORDERING_ITEM = "-?(?:" + "|".join(ORDERING_KEYS) + ")"

LIST_PARAMETERS = [
    OpenApiParameter("status", str, enum=["pending", "completed"]),
    OpenApiParameter(
        "priority", _repeated(_comma_list(PRIORITY_ITEM)), description="low, medium, high, urgent"
    ),
    OpenApiParameter("tags", _repeated(_comma_list(TAG_CHARACTERS)), description="any of these"),
    OpenApiParameter(
        "tags_all", _repeated(_comma_list(TAG_CHARACTERS)), description="all of these tags"
    ),
    OpenApiParameter("due_before", OpenApiTypes.DATETIME),
    OpenApiParameter("due_after", OpenApiTypes.DATETIME),
    OpenApiParameter("overdue", str, enum=["true", "false"]),
    OpenApiParameter("has_due", str, enum=["true", "false"]),
    OpenApiParameter("recurring", str, enum=["true", "false"]),
    OpenApiParameter("series", OpenApiTypes.UUID),
    OpenApiParameter(
        "search",
        {"type": "string", "minLength": 1, "maxLength": 500},
        description="web search syntax over title, description, tags",
    ),
    OpenApiParameter(
        "ordering",
        {**_comma_list(ORDERING_ITEM), "maxLength": 200},
        description="comma list of priority, due_at, created_at, updated_at, title, rank; "
        "'-' for descending",
    ),
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="past the end: 404"),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        description=f"1-{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}",
    ),
]

# A 400 body maps each bad field or query parameter to its messages (nested for nested input).
BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="a message per bad field")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="no such task for this user")


@extend_schema_view(
    list=extend_schema(
        parameters=LIST_PARAMETERS,
        responses={200: TaskSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND},
    ),
    create=extend_schema(
        request=TaskCreateSerializer, responses={201: TaskSerializer, 400: BAD_REQUEST}
    ),
    retrieve=extend_schema(responses={200: TaskSerializer, 404: NOT_FOUND}),
    partial_update=extend_schema(
        request=TaskUpdateSerializer,
        responses={200: TaskSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    ),
    destroy=extend_schema(responses={204: None, 404: NOT_FOUND}),
    complete=extend_schema(request=None, responses={200: TaskSerializer, 404: NOT_FOUND}),
    reopen=extend_schema(request=None, responses={200: TaskSerializer, 404: NOT_FOUND}),
)
@extend_schema(tags=["tasks"])
class TaskViewSet(viewsets.GenericViewSet[Task]):
    serializer_class = TaskSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Task]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Task.objects.none()
        return with_reminders(task_queryset(user=self.request.user))  # type: ignore[arg-type]

    def get_object(self) -> Task:
        return task_get(user=self.request.user, task_id=self.kwargs["pk"])  # type: ignore[arg-type]

    def list(self, request: Request) -> Response:
        unknown = set(request.query_params) - set(TaskFilter.base_filters) - PAGING_PARAMS
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in sorted(unknown)})
        # `?series=` is no filter to django-filter, but not a UUID to the schema: refuse it.
        empty = sorted(
            name for name, values in request.query_params.lists() if any(v == "" for v in values)
        )
        if empty:
            raise ValidationError({name: ["This parameter may not be empty."] for name in empty})
        task_filter = TaskFilter(
            request.query_params, queryset=self.get_queryset(), request=request
        )
        if not task_filter.is_valid():
            raise ValidationError(task_filter.errors)
        page = self.paginate_queryset(task_filter.qs)
        return self.get_paginated_response(TaskSerializer(page, many=True).data)

    def create(self, request: Request) -> Response:
        serializer = TaskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.task_create(owner=request.user, **serializer.validated_data)  # type: ignore[arg-type]
        if not serializer.validated_data.get("reminders"):
            # A task created without reminders has none: show it without reading them.
            setattr(task, Task.REMINDERS_LOADED, [])
        return Response(self._shown(task), status=status.HTTP_201_CREATED)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self._shown(self.get_object()))

    def partial_update(self, request: Request, pk: str) -> Response:
        serializer = TaskUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(serializer.validated_data)
        reminders = changes.pop("reminders", None)
        task = services.task_update(task=self.get_object(), changes=changes, reminders=reminders)
        return Response(self._shown(task))

    def destroy(self, request: Request, pk: str) -> Response:
        services.task_delete(task=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str) -> Response:
        return Response(self._shown(services.task_complete(task=self.get_object())))

    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: str) -> Response:
        return Response(self._shown(services.task_reopen(task=self.get_object())))

    def _shown(self, task: Task) -> dict[str, Any]:
        # The services hand back the task as written, so only its reminders need reading (not
        # even those when the caller already knows them).
        reminders_load([task])
        data: dict[str, Any] = TaskSerializer(task).data
        return data
