"""Query parameters of the task list. Every filter combines with every other (AND)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField

from tasks_app.models import Priority, Status, Task
from tasks_app.selectors import (
    DEFAULT_ORDERING,
    parse_ordering,
    split_comma_list,
    task_order,
    task_search,
)
from tasks_app.validation import normalize_tags

BOOLEAN_CHOICES = (("true", "true"), ("false", "false"))


class CommaListField(forms.Field):
    """Accepts `a,b` and repeated parameters (`?x=a&x=b`)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[str]:
        values = value if isinstance(value, list) else [] if value is None else [value]
        try:
            return [part for item in values for part in split_comma_list(str(item))]
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def validate(self, value: Any) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


class CommaListFilter(django_filters.Filter):
    field_class = CommaListField


class UtcDateTimeField(IsoDateTimeField):
    """An RFC 3339 time converted to UTC: PostgreSQL rejects offsets beyond +-15:59."""

    def to_python(self, value: Any) -> datetime | None:
        moment: datetime | None = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a time between the years 1 and 9999.") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class TaskFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Status.choices)
    priority = CommaListFilter(method="filter_priority")
    tags = CommaListFilter(method="filter_tags_any")
    tags_all = CommaListFilter(method="filter_tags_all")
    due_before = UtcDateTimeFilter(field_name="due_at", lookup_expr="lt")
    due_after = UtcDateTimeFilter(field_name="due_at", lookup_expr="gte")
    overdue = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_overdue")
    has_due = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_has_due")
    recurring = django_filters.ChoiceFilter(choices=BOOLEAN_CHOICES, method="filter_recurring")
    series = django_filters.UUIDFilter(field_name="series_id")
    search = django_filters.CharFilter(method="filter_search", max_length=500)
    ordering = django_filters.CharFilter(method="filter_ordering_noop", max_length=200)

    class Meta:
        model = Task
        fields: list[str] = []

    def filter_priority(
        self, queryset: QuerySet[Task], name: str, value: list[str]
    ) -> QuerySet[Task]:
        if not value:
            return queryset
        return queryset.filter(priority__in=[Priority.from_name(v) for v in value])

    def filter_tags_any(
        self, queryset: QuerySet[Task], name: str, value: list[str]
    ) -> QuerySet[Task]:
        return queryset.filter(tags__overlap=value) if value else queryset

    def filter_tags_all(
        self, queryset: QuerySet[Task], name: str, value: list[str]
    ) -> QuerySet[Task]:
        return queryset.filter(tags__contains=value) if value else queryset

    def filter_overdue(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        overdue = Q(status=Status.PENDING, due_at__lt=timezone.now())
        return queryset.filter(overdue) if value == "true" else queryset.exclude(overdue)

    def filter_has_due(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return queryset.filter(due_at__isnull=value != "true")

    def filter_recurring(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return queryset.filter(series__isnull=value != "true")

    def filter_search(self, queryset: QuerySet[Task], name: str, value: str) -> QuerySet[Task]:
        return task_search(queryset, value) if value.strip() else queryset

    def filter_ordering_noop(
        self, queryset: QuerySet[Task], name: str, value: str
    ) -> QuerySet[Task]:
        return queryset  # applied last, in filter_queryset, after search has annotated rank

    def clean_tag_list(self, field: str) -> None:
        try:
            normalize_tags(self.form.cleaned_data.get(field) or [])
        except forms.ValidationError as exc:
            # normalize_tags names the field "tags"; report it under the parameter given.
            messages = (
                exc.message_dict.get("tags", exc.messages)
                if hasattr(exc, "error_dict")
                else exc.messages
            )
            self.form.add_error(field, messages)

    def is_valid(self) -> bool:
        # The form's own checks leave the fields that passed in cleaned_data; check those too,
        # so one answer lists every bad parameter.
        super().is_valid()
        data = dict(self.form.cleaned_data)
        unknown = [v for v in data.get("priority") or [] if v not in Priority.labels]
        if unknown:
            self.form.add_error(
                "priority",
                [f"Unknown priority {v!r}; use low, medium, high or urgent." for v in unknown],
            )
        for field in ("tags", "tags_all"):
            self.clean_tag_list(field)
        raw_ordering = data.get("ordering")
        if raw_ordering:
            try:
                keys = parse_ordering(raw_ordering)
            except ValueError as exc:
                self.form.add_error("ordering", str(exc))
            else:
                if any(k.removeprefix("-") == "rank" for k in keys) and not data.get("search"):
                    self.form.add_error("ordering", "Ordering by rank needs a search.")
        return not self.form.errors

    def filter_queryset(self, queryset: QuerySet[Task]) -> QuerySet[Task]:
        data = self.form.cleaned_data
        for field in ("tags", "tags_all"):
            if data.get(field):
                data[field] = normalize_tags(data[field])
        queryset = super().filter_queryset(queryset)
        if data.get("ordering"):
            keys = parse_ordering(data["ordering"])
        elif data.get("search"):
            keys = ["-rank", *DEFAULT_ORDERING]
        else:
            keys = list(DEFAULT_ORDERING)
        return task_order(queryset, keys)
