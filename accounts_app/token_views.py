"""Endpoints to create, list and revoke personal API tokens.

They need a password login (a JWT): a personal token cannot mint or revoke tokens, so one that
leaks cannot be used to create a longer-lived or more powerful one.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts_app.models import ApiToken
from accounts_app.token_serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
)
from accounts_app.tokens import api_token_create, api_token_get, api_token_list, api_token_revoke
from webapp.api.request import AuthedRequest
from webapp.api.serializers import ErrorSerializer

BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="a message per bad field")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="called with a personal API token")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="no such token for this user")


def _refuse_api_tokens(request: AuthedRequest) -> None:
    if isinstance(request.auth, ApiToken):
        raise PermissionDenied("Manage API tokens with a password login (JWT), not an API token.")


class ApiTokenListView(APIView):
    @extend_schema(tags=["auth"], responses={200: ApiTokenSerializer(many=True), 403: FORBIDDEN})
    def get(self, request: AuthedRequest) -> Response:
        _refuse_api_tokens(request)
        tokens = api_token_list(user=request.user)
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        tags=["auth"],
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
    )
    def post(self, request: AuthedRequest) -> Response:
        _refuse_api_tokens(request)
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, secret = api_token_create(user=request.user, **serializer.validated_data)
        data = ApiTokenCreatedSerializer(token, context={"secret": secret}).data
        return Response(data, status=status.HTTP_201_CREATED)


class ApiTokenDetailView(APIView):
    @extend_schema(tags=["auth"], responses={204: None, 403: FORBIDDEN, 404: NOT_FOUND})
    def delete(self, request: AuthedRequest, token_id: str) -> Response:
        _refuse_api_tokens(request)
        token = api_token_get(user=request.user, token_id=token_id)
        api_token_revoke(token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
