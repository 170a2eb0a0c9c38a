"""Registration and JWT endpoints, rate limited per client address."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts_app.serializers import RegisterSerializer, UserSerializer
from accounts_app.services import user_register
from webapp.api.serializers import ErrorSerializer
from webapp.api.throttling import AuthRateThrottle

BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="a message per bad field")
UNAUTHORIZED = OpenApiResponse(ErrorSerializer, description="wrong credentials or a bad token")
THROTTLED = OpenApiResponse(ErrorSerializer, description="too many attempts; see Retry-After")


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [AuthRateThrottle]

    @extend_schema(
        tags=["auth"],
        request=RegisterSerializer,
        responses={
            201: UserSerializer,
            400: BAD_REQUEST,
            409: OpenApiResponse(
                OpenApiTypes.OBJECT, description="the username or email is taken (per field)"
            ),
            429: THROTTLED,
        },
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    post=extend_schema(
        tags=["auth"],
        responses={
            200: TokenObtainPairSerializer,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            429: THROTTLED,
        },
    )
)
class TokenView(TokenObtainPairView):
    throttle_classes = [AuthRateThrottle]


@extend_schema_view(
    post=extend_schema(
        tags=["auth"],
        responses={
            200: TokenRefreshSerializer,
            400: BAD_REQUEST,
            401: UNAUTHORIZED,
            429: THROTTLED,
        },
    )
)
class TokenRefresh(TokenRefreshView):
    """Trades a refresh token for a new pair; the old refresh token stops working."""

    throttle_classes = [AuthRateThrottle]
