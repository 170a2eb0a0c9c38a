"""Serializer building blocks shared by every app's API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictSerializer(serializers.Serializer[Any]):
    """Rejects unknown and read-only fields with a message each, instead of ignoring them.

    Clients of other task APIs lose data to silently dropped fields; here they get a 400.
    """

    read_only_names: tuple[str, ...] = ()

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, Any] = {}
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            for key in data:
                if key in writable:
                    continue
                if key in self.read_only_names or key in self.fields:
                    errors[key] = ["This field is read-only."]
                else:
                    errors[key] = ["Unknown field."]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # One answer lists every problem: bad values and fields that may not be sent.
            if errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **errors}) from exc
            raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


class NamedChoiceField(serializers.ChoiceField):
    """Speaks names (`"high"`) on the wire for a field stored as an integer choice."""

    def __init__(self, *, names: dict[str, int], **kwargs: Any) -> None:
        self._names = names
        self._values = {value: name for name, value in names.items()}
        super().__init__(choices=list(names), **kwargs)

    def to_internal_value(self, data: Any) -> int:  # type: ignore[override]  # int on purpose
        name = super().to_internal_value(data)
        return self._names[name]

    def to_representation(self, value: Any) -> str:
        return self._values[int(value)]


class ErrorSerializer(serializers.Serializer[Any]):
    """Documents the `{detail}` body of 401, 403, 404 and 429 answers."""

    detail = serializers.CharField()
