"""Query parameters of the task list. Every filter combines with every other (AND)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F, OrderBy, Q, QuerySet
from django.utils import timezone
from django_filters.fields import IsoDateTimeField

from tasks_app.models import Priority, Status, Task
from tasks_app.validation import normalize_tags

ORDERING_KEYS = ("priority", "due_at", "created_at", "updated_at", "title", "rank")
DEFAULT_ORDERING = ("-priority", "due_at")
NULLABLE_ORDERING_KEYS = frozenset({"due_at"})


def task_search(queryset: QuerySet[Task], text: str) -> QuerySet[Task]:
    """Match `text` (web search syntax: quotes, OR, -word) and annotate `rank`."""
    query = SearchQuery(text, search_type="websearch", config=settings.SEARCH_CONFIG)
    return queryset.filter(search_vector=query).annotate(rank=SearchRank(F("search_vector"), query))


def split_comma_list(raw: str) -> list[str]:
    """`"a, b"` -> `["a", "b"]`: items around commas, spaces trimmed; an empty item is an
    error (the API schema's patterns say exactly this)."""
    items = [part.strip(" ") for part in raw.split(",")]
    if not all(items):
        raise ValueError("Give a comma list without empty items.")
    return items


def parse_ordering(raw: str) -> list[str]:
    """Split and check an `ordering` value; raise ValueError naming the bad key.

    A key given again is ignored: the first mention decides its direction.
    """
    keys: list[str] = []
    seen: set[str] = set()
    for key in split_comma_list(raw):
        name = key.removeprefix("-")
        if name not in ORDERING_KEYS:
            raise ValueError(f"Unknown ordering key {name!r}; use {', '.join(ORDERING_KEYS)}.")
        if name not in seen:
            seen.add(name)
            keys.append(key)
    return keys


def task_order(queryset: QuerySet[Task], keys: list[str]) -> QuerySet[Task]:
    """Order by `keys`; tasks without a due date come last whichever way due_at sorts."""
    expressions: list[OrderBy] = []
    for key in keys:
        descending = key.startswith("-")
        name = key.removeprefix("-")
        expression = F(name)
        # Only due_at can be NULL. Leaving NULLS LAST off the other keys keeps the ORDER BY
        # identical to the list indexes (see Task.Meta), so a page is read straight off one.
        nulls_last = True if name in NULLABLE_ORDERING_KEYS else None
        expressions.append(
            expression.desc(nulls_last=nulls_last)
            if descending
            else expression.asc(nulls_last=nulls_last)
        )
    # A unique tail keeps pages stable when the chosen keys tie.
    expressions.extend([F("created_at").desc(), F("id").asc()])
    return queryset.order_by(*expressions)


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
