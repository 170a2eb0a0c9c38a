"""Support staff look series up; ending one goes through the service so events and jobs follow.

Series are read-only here: rule edits need the validation and instance replacement of
`series_update`, which the API offers.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from recurrence_app import services
from recurrence_app.models import RecurringSeries, SeriesStatus


@admin.register(RecurringSeries)
class RecurringSeriesAdmin(admin.ModelAdmin[RecurringSeries]):
    list_display = ("title", "owner", "rule", "timezone", "anchor", "status", "next_occurrence")
    list_filter = ("status", "anchor")
    search_fields = ("title", "owner__username", "owner__email")
    list_select_related = ("owner",)
    ordering = ("-created_at",)
    actions = ("end_series",)

    def get_readonly_fields(
        self, request: HttpRequest, obj: RecurringSeries | None = None
    ) -> list[str]:
        return [field.name for field in RecurringSeries._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: RecurringSeries | None = None
    ) -> bool:
        return False

    @admin.action(description="End the selected series (pending instances are deleted)")
    def end_series(self, request: HttpRequest, queryset: QuerySet[RecurringSeries]) -> None:
        ended = 0
        for series in queryset.exclude(status=SeriesStatus.DELETED):
            services.series_delete(series=series)
            ended += 1
        self.message_user(request, f"{ended} series ended.", messages.SUCCESS)
