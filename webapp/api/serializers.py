"""Serializer building blocks shared by every app's API."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import models
from rest_framework import serializers
from rest_framework.fields import Field

_MT = TypeVar("_MT", bound=models.Model)


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


class UtcDateTimeField(serializers.DateTimeField):
    """Renders an aware datetime as RFC 3339 in UTC ("...Z"), as DRF's field does here.

    The same text at a fraction of the work: a page of 50 tasks renders 250 of them.
    """

    def to_representation(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ReadModelSerializer(serializers.ModelSerializer[_MT]):
    """A ModelSerializer for answers, built for lists of many objects.

    DRF introspects the model (field classes, their arguments and validators) each time a
    ModelSerializer is made: answering with one task spent a fifth of the request's CPU there.
    That depends only on the class, so it is done once and each instance gets a copy, made
    the way DRF copies declared fields.
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UtcDateTimeField,
    }

    def get_fields(self) -> dict[str, Field[Any, Any, Any, Any]]:
        owner = type(self)
        cached: dict[str, Field[Any, Any, Any, Any]] | None = owner.__dict__.get("_fields_once")
        if cached is None:
            cached = super().get_fields()
            owner._fields_once = cached  # type: ignore[attr-defined]
        return copy.deepcopy(cached)
