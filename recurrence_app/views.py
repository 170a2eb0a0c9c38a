"""Thin series endpoints: validate, call one service, answer with the series."""

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
from rest_framework.request import Request
from rest_framework.response import Response

from recurrence_app import services
from recurrence_app.models import RecurringSeries
from recurrence_app.selectors import series_get, series_occurrences, series_queryset
from recurrence_app.serializers import (
    OccurrencesQuerySerializer,
    OccurrencesSerializer,
    SeriesSerializer,
    SeriesUpdateSerializer,
)
from webapp.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from webapp.api.serializers import ErrorSerializer

BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="a message per bad field")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="no such series for this user")


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
        responses={200: SeriesSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND},
    ),
    retrieve=extend_schema(responses={200: SeriesSerializer, 404: NOT_FOUND}),
    partial_update=extend_schema(
        request=SeriesUpdateSerializer,
        responses={200: SeriesSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
        description="Edit the series from now on; instances edited on their own keep their "
        "edits. A rule or time-zone change replaces the pending instances.",
    ),
    destroy=extend_schema(
        responses={204: None, 404: NOT_FOUND},
        description="Delete pending instances, keep completed ones, stop the series.",
    ),
    occurrences=extend_schema(
        parameters=[
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": 100}, description="default 10"
            )
        ],
        responses={200: OccurrencesSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    ),
)
@extend_schema(tags=["series"])
class SeriesViewSet(viewsets.GenericViewSet[RecurringSeries]):
    serializer_class = SeriesSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[RecurringSeries]:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return RecurringSeries.objects.none()
        return series_queryset(user=self.request.user).order_by("-created_at", "id")  # type: ignore[arg-type]

    def get_object(self) -> RecurringSeries:
        return series_get(user=self.request.user, series_id=self.kwargs["pk"])  # type: ignore[arg-type]

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SeriesSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(SeriesSerializer(self.get_object()).data)

    def partial_update(self, request: Request, pk: str) -> Response:
        serializer = SeriesUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(serializer.validated_data)
        series = services.series_update(series=self.get_object(), changes=changes)
        return Response(SeriesSerializer(series).data)

    def destroy(self, request: Request, pk: str) -> Response:
        services.series_delete(series=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["get"])
    def occurrences(self, request: Request, pk: str) -> Response:
        query = OccurrencesQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        series = self.get_object()
        moments = series_occurrences(series=series, limit=query.validated_data["limit"])
        return Response(OccurrencesSerializer({"series": series.id, "occurrences": moments}).data)
