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
            {"type": "string", "enum": ["read", "write", "read write", "write read"]},
            {
                "type": "array",
                "items": {"type": "string", "enum": ["read", "write"]},
                "minItems": 1,
                "maxItems": 2,
                "uniqueItems": True,
            },
        ]
    }
)
class ScopesField(serializers.Field):  # type: ignore[type-arg]
    """Accepts `"read"`, `"read write"` or `["read", "write"]`."""

    default_error_messages = {
        "invalid": "Give 'read', 'write' or 'read write', as text or as a list."
    }

    NAMES = frozenset({"read", "write"})

    def to_internal_value(self, data: Any) -> list[str]:
        # Exactly what the schema lists: one or both names, each once, as text or a list
        # ("write" alone means both: writing implies reading).
        names = data.split(" ") if isinstance(data, str) else data
        if isinstance(names, list):
            unknown = sorted({str(name) for name in names} - self.NAMES)
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown scope {', '.join(map(repr, unknown))}; use 'read' or 'read write'."
                )
        if (
            not isinstance(names, list)
            or not 1 <= len(names) <= 2
            or not all(isinstance(name, str) and name in self.NAMES for name in names)
            or len(set(names)) != len(names)
        ):
            self.fail("invalid")
        return list(names)

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
