"""Conversation memory for a chatbot: GET, PUT (replace) and DELETE one conversation."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
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
BAD_ID = OpenApiResponse(ErrorSerializer, description="an id that is not a slug or a UUID")
UNAVAILABLE = OpenApiResponse(ErrorSerializer, description="the state store is unreachable")
CONVERSATION_ID = OpenApiParameter(
    "conversation_id",
    {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,100}$"},
    OpenApiParameter.PATH,
    description="chosen by the client: a slug or a UUID",
)


class StateStoreUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Conversation memory is unavailable; try again shortly."
    default_code = "state_unavailable"


class ConversationView(APIView):
    @extend_schema(
        tags=["conversations"],
        parameters=[CONVERSATION_ID],
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
        parameters=[CONVERSATION_ID],
        request=ConversationInputSerializer,
        responses={200: ConversationSerializer, 400: BAD_REQUEST, 404: BAD_ID, 503: UNAVAILABLE},
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

    @extend_schema(
        tags=["conversations"],
        parameters=[CONVERSATION_ID],
        responses={204: None, 404: BAD_ID, 503: UNAVAILABLE},
    )
    def delete(self, request: Request, conversation_id: str) -> Response:
        try:
            services.conversation_delete(user=request.user, conversation_id=conversation_id)  # type: ignore[arg-type]
        except StateUnavailable as exc:
            raise StateStoreUnavailable() from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
