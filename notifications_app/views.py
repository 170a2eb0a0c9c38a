"""Thin endpoints: reminders of a task, the notification feed, devices and preferences."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications_app import selectors, services
from notifications_app.models import Channel, NotificationStatus
from notifications_app.serializers import (
    DeviceInputSerializer,
    DeviceSerializer,
    NotificationQuerySerializer,
    NotificationSerializer,
    NotificationSettingsSerializer,
    NotificationSettingsUpdateSerializer,
    ReminderInputSerializer,
    ReminderSerializer,
)
from tasks_app.selectors import task_get
from webapp.api.pagination import PageNumberPagination
from webapp.api.request import AuthedRequest
from webapp.api.serializers import ErrorSerializer

BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="a message per bad field")


def _not_found(what: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=f"no such {what} for this user")


class TaskRemindersView(APIView):
    @extend_schema(
        tags=["reminders"],
        operation_id="tasks_reminders_list",
        responses={200: ReminderSerializer(many=True), 404: _not_found("task")},
    )
    def get(self, request: AuthedRequest, task_id: str) -> Response:
        task = task_get(user=request.user, task_id=task_id)
        return Response(ReminderSerializer(selectors.reminder_list(task=task), many=True).data)

    @extend_schema(
        tags=["reminders"],
        operation_id="tasks_reminders_create",
        request=ReminderInputSerializer,
        responses={201: ReminderSerializer, 400: BAD_REQUEST, 404: _not_found("task")},
    )
    def post(self, request: AuthedRequest, task_id: str) -> Response:
        task = task_get(user=request.user, task_id=task_id)
        serializer = ReminderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reminder = services.reminder_add(task=task, spec=serializer.validated_data)
        return Response(ReminderSerializer(reminder).data, status=status.HTTP_201_CREATED)


class ReminderDetailView(APIView):
    @extend_schema(
        tags=["reminders"], responses={200: ReminderSerializer, 404: _not_found("reminder")}
    )
    def get(self, request: AuthedRequest, reminder_id: str) -> Response:
        reminder = selectors.reminder_get(user=request.user, reminder_id=reminder_id)
        return Response(ReminderSerializer(reminder).data)

    @extend_schema(tags=["reminders"], responses={204: None, 404: _not_found("reminder")})
    def delete(self, request: AuthedRequest, reminder_id: str) -> Response:
        reminder = selectors.reminder_get(user=request.user, reminder_id=reminder_id)
        services.reminder_delete(reminder=reminder)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationListView(APIView):
    pagination_class = PageNumberPagination

    @extend_schema(
        tags=["notifications"],
        parameters=[
            OpenApiParameter("channel", str, enum=Channel.values),
            OpenApiParameter("status", str, enum=NotificationStatus.values),
            OpenApiParameter("page", {"type": "integer", "minimum": 1}),
            OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": 200}),
        ],
        responses={
            200: NotificationSerializer(many=True),
            400: BAD_REQUEST,
            404: OpenApiResponse(ErrorSerializer, description="a page past the end"),
        },
    )
    def get(self, request: AuthedRequest) -> Response:
        query = NotificationQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        rows = selectors.notification_list(
            user=request.user,
            channel=query.validated_data.get("channel"),
            status=query.validated_data.get("status"),
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(NotificationSerializer(page, many=True).data)


class DeviceListView(APIView):
    @extend_schema(tags=["devices"], responses={200: DeviceSerializer(many=True)})
    def get(self, request: AuthedRequest) -> Response:
        devices = selectors.device_list(user=request.user)
        return Response(DeviceSerializer(devices, many=True).data)

    @extend_schema(
        tags=["devices"],
        request=DeviceInputSerializer,
        responses={201: DeviceSerializer, 200: DeviceSerializer, 400: BAD_REQUEST},
    )
    def post(self, request: AuthedRequest) -> Response:
        serializer = DeviceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        device, created = services.device_register(
            user=request.user,
            **serializer.validated_data,
        )
        return Response(
            DeviceSerializer(device).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DeviceDetailView(APIView):
    @extend_schema(tags=["devices"], responses={204: None, 404: _not_found("device")})
    def delete(self, request: AuthedRequest, device_id: str) -> Response:
        device = selectors.device_get(user=request.user, device_id=device_id)
        services.device_delete(device=device)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationSettingsView(APIView):
    @extend_schema(tags=["notifications"], responses={200: NotificationSettingsSerializer})
    def get(self, request: AuthedRequest) -> Response:
        prefs = selectors.notification_settings_for(user_id=request.user.pk)
        return Response(NotificationSettingsSerializer(prefs).data)

    @extend_schema(
        tags=["notifications"],
        request=NotificationSettingsUpdateSerializer,
        responses={200: NotificationSettingsSerializer, 400: BAD_REQUEST},
    )
    def patch(self, request: AuthedRequest) -> Response:
        serializer = NotificationSettingsUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(serializer.validated_data)
        prefs = services.notification_settings_update(user=request.user, changes=changes)
        return Response(NotificationSettingsSerializer(prefs).data)
