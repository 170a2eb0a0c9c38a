"""API shapes of personal API tokens. The secret appears only in the creation answer."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts_app.models import ApiToken
from webapp.api.serializers import StrictSerializer


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "enum": ["read", "read write"]},
            {"type": "array", "items": {"type": "string", "enum": ["read", "write"]}},
        ]
    }
)
class ScopesField(serializers.Field):  # type: ignore[type-arg]
    """Accepts `"read"`, `"read write"` or `["read", "write"]`."""

    default_error_messages = {"invalid": "Give 'read' or 'read write' (a string or a list)."}

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            return data.split()
        if isinstance(data, list) and all(isinstance(item, str) for item in data):
            return list(data)
        self.fail("invalid")
        raise AssertionError("fail() raises")  # for the type checker

    def to_representation(self, value: str) -> list[str]:
        return sorted(value.split())


class ApiTokenCreateSerializer(StrictSerializer):
    read_only_names = ("id", "prefix", "token", "created_at", "last_used_at")

    name = serializers.CharField(max_length=100)
    scopes = ScopesField(help_text="'read' or 'read write' (or a list of those)")
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="optional; the token stops working then"
    )


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=["read", "write"]),
        source="scope_list",
        read_only=True,
    )

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scopes", "expires_at", "created_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.SerializerMethodField(help_text="the secret; shown only this once")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields

    def get_token(self, obj: ApiToken) -> str:
        secret: str = self.context["secret"]
        return secret
