"""Conversation memory for a chatbot: GET, PUT (replace) and DELETE one conversation."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatbot_app import selectors, services
from chatbot_app.serializers import ConversationInputSerializer, ConversationSerializer
from chatbot_app.state import StateUnavailable
from webapp.api.serializers import ErrorSerializer

BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="a message per bad field")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="no such conversation for this user")
UNAVAILABLE = OpenApiResponse(ErrorSerializer, description="the state store is unreachable")


class StateStoreUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Conversation memory is unavailable; try again shortly."
    default_code = "state_unavailable"


class ConversationView(APIView):
    @extend_schema(
        tags=["conversations"],
        responses={200: ConversationSerializer, 404: NOT_FOUND, 503: UNAVAILABLE},
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        try:
            found = selectors.conversation_get(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        except StateUnavailable as exc:
            raise StateStoreUnavailable() from exc
        return Response(ConversationSerializer(found).data)

    @extend_schema(
        tags=["conversations"],
        request=ConversationInputSerializer,
        responses={200: ConversationSerializer, 400: BAD_REQUEST, 503: UNAVAILABLE},
    )
    def put(self, request: Request, conversation_id: str) -> Response:
        serializer = ConversationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            saved = services.conversation_save(
                user=request.user,  # type: ignore[arg-type]
                conversation_id=conversation_id,
                messages=serializer.validated_data["messages"],
            )
        except StateUnavailable as exc:
            raise StateStoreUnavailable() from exc
        return Response(ConversationSerializer(saved).data)

    @extend_schema(tags=["conversations"], responses={204: None, 503: UNAVAILABLE})
    def delete(self, request: Request, conversation_id: str) -> Response:
        try:
            services.conversation_delete(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        except StateUnavailable as exc:
            raise StateStoreUnavailable() from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
