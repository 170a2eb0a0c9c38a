"""Serializer building blocks shared by every app's API."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.db import models
from django.http import QueryDict
from django.utils.dateparse import parse_duration
from rest_framework import serializers
from rest_framework.fields import Field

from webapp.timezones import TIME_ZONES

_MT = TypeVar("_MT", bound=models.Model)


def json_type_problem(field: Field[Any, Any, Any, Any], value: Any) -> str | None:
    """A message if `value` is not of the JSON type the schema gives `field`, else None.

    DRF coerces: 7 becomes "7" for a text field, 0 and "yes" become false and true. A client
    generated from the schema sends the declared types, so anything else is a mistake to
    report, not to guess at.
    """
    if value is None:
        return None  # nullability is the field's own check
    if isinstance(field, serializers.CharField) and not isinstance(value, str):
        return "Not a valid string."
    if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
        return "Must be true or false."
    if isinstance(field, serializers.IntegerField) and (
        isinstance(value, bool) or not isinstance(value, int)
    ):
        return "A valid integer is required."
    if isinstance(field, serializers.ListField) and isinstance(value, list):
        for item in value:
            problem = json_type_problem(field.child, item)
            if problem:
                return problem
    return None


class StrictSerializer(serializers.Serializer[Any]):
    """Rejects unknown and read-only fields, and values of the wrong JSON type, with a message
    each, instead of ignoring or coercing them.

    Clients of other task APIs lose data to silently dropped fields; here they get a 400.
    """

    read_only_names: tuple[str, ...] = ()
    # False for query parameters: text that the fields parse, not JSON values with types.
    json_body = True
    # Fields of which a body must give exactly one (the schema then has a variant for each).
    exactly_one_of: tuple[str, ...] = ()

    def get_fields(self) -> dict[str, Field[Any, Any, Any, Any]]:
        fields = super().get_fields()
        for field in fields.values():
            # Length limits hold for the text as sent, as the schema states them; DRF would
            # trim first and so accept a longer text than the schema allows.
            if isinstance(field, serializers.CharField):
                field.trim_whitespace = False
        return fields

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, Any] = {}
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            # Query parameters are all text; only a JSON body has types to check.
            typed = self.json_body and not isinstance(data, QueryDict)
            for key, value in data.items():
                if key in writable:
                    problem = json_type_problem(self.fields[key], value) if typed else None
                    if problem:
                        errors[key] = [problem]
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
    the way DRF copies declared fields. An answer is rendered by a plan made once per class
    (see `to_representation`), so a serializer that only renders never copies its fields.
    What a ReadModelSerializer renders must not depend on its context.
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

    def to_representation(self, instance: _MT) -> dict[str, Any]:
        """What DRF's `to_representation` gives, with each field read by a plain function.

        DRF walks each field's source path, catches the exceptions a path may raise and
        dispatches on the field per attribute; for the fields of a stored row (text, numbers,
        UTC times, a foreign key's id) a direct read gives the same value at a fraction of the
        cost. A page of 50 tasks reads 750 attributes. Other fields go through DRF as before.

        The plan depends only on the class, so it is made once, from fields bound to an
        instance of its own: no request's serializer (or context) is kept alive by it.
        """
        owner = type(self)
        plan: list[tuple[str, Callable[[Any], Any]]] | None = owner.__dict__.get("_plan_once")
        if plan is None:
            plan = [(str(f.field_name), _reader(f)) for f in owner()._readable_fields]
            owner._plan_once = plan  # type: ignore[attr-defined]
        return {name: read(instance) for name, read in plan}


def _reader(field: Field[Any, Any, Any, Any]) -> Callable[[Any], Any]:
    """A function from an instance to `field`'s representation (see ReadModelSerializer)."""
    plain = len(field.source_attrs) == 1 and field.source != "*"
    name = field.source_attrs[0] if plain else ""
    if plain and isinstance(field, serializers.PrimaryKeyRelatedField):
        # The foreign key's own column: no related object is loaded to render its id.
        attname = f"{name}_id"

        def related_id(obj: Any) -> Any:
            value = getattr(obj, attname)
            return None if value is None else field.to_representation(_Pk(value))

        return related_id
    kind = type(field)
    if plain and kind in _DIRECT:
        convert = _DIRECT[kind]

        def direct(obj: Any) -> Any:
            value = getattr(obj, name)
            return None if value is None else convert(value)

        return direct
    # Stored values (never methods DRF would call), so only the field's own conversion is left.
    if plain and isinstance(
        field,
        UtcDateTimeField
        | serializers.ChoiceField
        | serializers.ListField
        | serializers.ListSerializer,
    ):

        def own(obj: Any) -> Any:
            value = getattr(obj, name)
            return None if value is None else field.to_representation(value)

        return own

    def through_drf(obj: Any) -> Any:
        attribute = field.get_attribute(obj)
        return None if attribute is None else field.to_representation(attribute)

    return through_drf


class _Pk:
    """Stands in for a related object whose primary key is all a PrimaryKeyRelatedField reads."""

    __slots__ = ("pk",)

    def __init__(self, pk: Any) -> None:
        self.pk = pk


# Fields whose representation is a plain conversion of the stored value, as DRF's own.
_DIRECT: dict[type[Field[Any, Any, Any, Any]], Callable[[Any], Any]] = {
    serializers.CharField: str,
    serializers.UUIDField: str,
    serializers.IntegerField: int,
    serializers.BooleanField: bool,
}


class StrictQuerySerializer(StrictSerializer):
    """Query parameters: unknown ones refused, values parsed from their text."""

    json_body = False


def iso_duration(value: timedelta) -> str:
    """The shortest ISO 8601 form ("PT1H", "P1DT30M", "PT0S"): what clients send us."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    text = f"P{days}D" if days else "P"
    if clock:
        text += f"T{clock}"
    return "PT0S" if text == "P" else text


def _numbers_below(limit: int) -> str:
    """A regular expression for the whole numbers 0 to limit - 1 (limit at most 1000)."""
    top = str(limit - 1)
    if len(top) == 1:
        return f"[0-{top}]"
    options = ["[0-9]"]
    if len(top) == 3:
        options.append("[1-9][0-9]")
    first, rest = int(top[0]), top[1:]
    if first > 1:
        options.append(f"[1-{first - 1}]" + "[0-9]" * len(rest))
    # Numbers that start with the top number's first digit, digit by digit.
    prefix = top[0]
    for position, digit in enumerate(rest):
        tail = "[0-9]" * (len(rest) - position - 1)
        last = position == len(rest) - 1
        bound = int(digit) if last else int(digit) - 1
        if bound >= 0:
            options.append(f"{prefix}[0-{bound}]{tail}")
        prefix += digit
    return "(?:" + "|".join(options) + ")"


def iso_duration_pattern(max_days: int) -> str:
    """ISO 8601 durations from PT0S to P<max_days>D: days, then hours (0-23), minutes and
    seconds (0-59), each optional but at least one; no years, months, weeks or fractions."""
    clock = "T(?=[0-9])(?:(?:1?[0-9]|2[0-3])H)?(?:[1-5]?[0-9]M)?(?:[1-5]?[0-9]S)?"
    return f"^P(?:(?!$)(?:{_numbers_below(max_days)}D)?(?:{clock})?|{max_days}D)$"


class IsoDurationField(serializers.Field[timedelta, str, str, Any]):
    """A duration as ISO 8601 text ("PT15M", "P1DT2H"), from PT0S to P<max_days>D.

    The schema carries the same pattern the field checks, so a client knows exactly which
    texts are accepted.
    """

    def __init__(self, *, max_days: int, **kwargs: Any) -> None:
        self.max_days = max_days
        self.pattern = iso_duration_pattern(max_days)
        self._regex = re.compile(self.pattern)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> timedelta:
        if not isinstance(data, str) or not self._regex.fullmatch(data):
            raise serializers.ValidationError(
                f"Enter an ISO 8601 duration from PT0S to P{self.max_days}D, "
                "such as PT15M, PT1H or P1DT12H."
            )
        parsed = parse_duration(data)
        if parsed is None:  # the pattern admits only what Django parses
            raise serializers.ValidationError("Enter an ISO 8601 duration.")
        return parsed

    def to_representation(self, value: timedelta) -> str:
        return iso_duration(value)


class TimeZoneField(serializers.ChoiceField):
    """An IANA time zone name users may choose (an enum in the schema)."""

    default_error_messages = {"invalid_choice": "Unknown time zone '{input}'."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=sorted(TIME_ZONES), **kwargs)
