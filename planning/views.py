"""The task and series endpoints: validate the shape, call one service, answer.

They sit above the apps (beside chatbot_app) because a task is shown with its reminders and
created with its recurrence: the composite writes are planning.services'.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from planning import services
from planning.serializers import (
    SeriesUpdateSerializer,
    TaskCreateSerializer,
    TaskSerializer,
    TaskUpdateSerializer,
)
from planning.task_json import as_json
from recurrence_app import services as series_services
from recurrence_app.models import RecurringSeries
from recurrence_app.selectors import series_get, series_occurrences, series_queryset
from recurrence_app.serializers import (
    OccurrencesQuerySerializer,
    OccurrencesSerializer,
    SeriesSerializer,
)
from tasks_app import services as task_services
from tasks_app.filters import ORDERING_KEYS
from tasks_app.models import Task
from tasks_app.selectors import (
    reminders_load,
    task_get,
    task_list,
    task_queryset,
    with_reminders,
)
from tasks_app.validation import TAG_CHARACTERS
from webapp.api.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PAGING_PARAMS,
    PageNumberPagination,
)
from webapp.api.request import AuthedRequest, AuthedView
from webapp.api.serializers import ErrorSerializer


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
SERIES_NOT_FOUND = OpenApiResponse(ErrorSerializer, description="no such series for this user")


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
class TaskViewSet(AuthedView, viewsets.GenericViewSet[Task]):
    serializer_class = TaskSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Task]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Task.objects.none()
        return with_reminders(task_queryset(user=self.request.user))

    def get_object(self) -> Task:
        return task_get(user=self.request.user, task_id=self.kwargs["pk"])

    def list(self, request: AuthedRequest) -> HttpResponse:
        filters = request.query_params.copy()
        for name in PAGING_PARAMS:
            filters.pop(name, None)
        # Each task's JSON comes rendered from the database (planning/task_json.py).
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            as_json(task_list(user=request.user, filters=filters)), request, view=self
        )
        return paginator.get_paginated_json_response(page or [])

    def create(self, request: AuthedRequest) -> Response:
        serializer = TaskCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task = services.task_create(owner=request.user, **serializer.validated_data)
        if not serializer.validated_data.get("reminders"):
            # A task created without reminders has none: show it without reading them.
            setattr(task, Task.REMINDERS_LOADED, [])
        return Response(self._shown(task), status=status.HTTP_201_CREATED)

    def retrieve(self, request: AuthedRequest, pk: str) -> Response:
        return Response(self._shown(self.get_object()))

    def partial_update(self, request: AuthedRequest, pk: str) -> Response:
        serializer = TaskUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(serializer.validated_data)
        reminders = changes.pop("reminders", None)
        task = services.task_update(task=self.get_object(), changes=changes, reminders=reminders)
        return Response(self._shown(task))

    def destroy(self, request: AuthedRequest, pk: str) -> Response:
        services.task_delete(task=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def complete(self, request: AuthedRequest, pk: str) -> Response:
        return Response(self._shown(task_services.task_complete(task=self.get_object())))

    @action(detail=True, methods=["post"])
    def reopen(self, request: AuthedRequest, pk: str) -> Response:
        return Response(self._shown(task_services.task_reopen(task=self.get_object())))

    def _shown(self, task: Task) -> dict[str, Any]:
        # The services hand back the task as written, so only its reminders need reading (not
        # even those when the caller already knows them).
        reminders_load([task])
        data: dict[str, Any] = TaskSerializer(task).data
        return data


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "page", {"type": "integer", "minimum": 1}, description="past the end: 404"
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                description=f"1-{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}",
            ),
        ],
        responses={200: SeriesSerializer(many=True), 400: BAD_REQUEST, 404: SERIES_NOT_FOUND},
    ),
    retrieve=extend_schema(responses={200: SeriesSerializer, 404: SERIES_NOT_FOUND}),
    partial_update=extend_schema(
        request=SeriesUpdateSerializer,
        responses={200: SeriesSerializer, 400: BAD_REQUEST, 404: SERIES_NOT_FOUND},
        description="Edit the series from now on; instances edited on their own keep their "
        "edits. A rule or time-zone change replaces the pending instances.",
    ),
    destroy=extend_schema(
        responses={204: None, 404: SERIES_NOT_FOUND},
        description="Delete pending instances, keep completed ones, stop the series.",
    ),
    occurrences=extend_schema(
        parameters=[
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": 100}, description="default 10"
            )
        ],
        responses={200: OccurrencesSerializer, 400: BAD_REQUEST, 404: SERIES_NOT_FOUND},
    ),
)
@extend_schema(tags=["series"])
class SeriesViewSet(AuthedView, viewsets.GenericViewSet[RecurringSeries]):
    serializer_class = SeriesSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[RecurringSeries]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return RecurringSeries.objects.none()
        return series_queryset(user=self.request.user).order_by("-created_at", "id")

    def get_object(self) -> RecurringSeries:
        return series_get(user=self.request.user, series_id=self.kwargs["pk"])

    def list(self, request: AuthedRequest) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SeriesSerializer(page, many=True).data)

    def retrieve(self, request: AuthedRequest, pk: str) -> Response:
        return Response(SeriesSerializer(self.get_object()).data)

    def partial_update(self, request: AuthedRequest, pk: str) -> Response:
        serializer = SeriesUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(serializer.validated_data)
        series = series_services.series_update(series=self.get_object(), changes=changes)
        return Response(SeriesSerializer(series).data)

    def destroy(self, request: AuthedRequest, pk: str) -> Response:
        series_services.series_delete(series=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["get"])
    def occurrences(self, request: AuthedRequest, pk: str) -> Response:
        query = OccurrencesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        series = self.get_object()
        moments = series_occurrences(series=series, limit=query.validated_data["limit"])
        return Response(OccurrencesSerializer({"series": series.id, "occurrences": moments}).data)
