"""Read-only admin for the event tables; dead letters can be replayed from their list."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from webapp.events.models import DeadLetter, OutboxEvent, ParkedDelivery, ProcessedEvent
from webapp.events.services import ReplayOutcome, dead_letter_replay


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Support staff inspect these tables; rows are written only by the event backbone."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PublishedFilter(admin.SimpleListFilter):
    title = "published"
    parameter_name = "published"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Published"), ("no", "Pending")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(published_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(published_at__isnull=True)
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "type", "topic", "subject", "user", "created_at", "published_at")
    list_filter = (PublishedFilter, "type", "topic", ("user", admin.RelatedOnlyFieldListFilter))
    search_fields = ("subject", "=event_id")
    list_select_related = ("user",)
    ordering = ("-sequence",)
    show_full_result_count = False  # COUNT(*) over a large outbox is slow


@admin.register(DeadLetter)
class DeadLetterAdmin(ReadOnlyAdmin):
    list_display = ("id", "consumer", "topic", "event_id", "attempts", "created_at", "replayed_at")
    list_filter = ("consumer", "topic", ("replayed_at", admin.EmptyFieldListFilter))
    search_fields = ("=event_id", "consumer", "error")
    ordering = ("-created_at",)
    actions = ["replay"]

    @admin.action(description="Replay the selected dead letters")
    def replay(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        results = [dead_letter_replay(dead_letter=letter) for letter in queryset.order_by("pk")]
        done = sum(r.outcome in {ReplayOutcome.REPLAYED, ReplayOutcome.DUPLICATE} for r in results)
        if done:
            self.message_user(request, f"{done} dead letter(s) replayed.", messages.SUCCESS)
        for r in results:
            if r.outcome not in {ReplayOutcome.REPLAYED, ReplayOutcome.DUPLICATE}:
                self.message_user(
                    request,
                    f"Dead letter {r.dead_letter_id} ({r.consumer}): {r.outcome.value}. {r.error}",
                    messages.ERROR,
                )


@admin.register(ParkedDelivery)
class ParkedDeliveryAdmin(ReadOnlyAdmin):
    """The retry schedule: events waiting for another try (or behind one of their user's)."""

    list_display = (
        "id",
        "consumer",
        "partition_key",
        "event_id",
        "attempts",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("consumer", "topic")
    search_fields = ("=event_id", "=partition_key", "last_error")
    ordering = ("id",)


@admin.register(ProcessedEvent)
class ProcessedEventAdmin(ReadOnlyAdmin):
    list_display = ("consumer", "event_id", "processed_at")
    list_filter = ("consumer",)
    search_fields = ("=event_id",)
    ordering = ("-processed_at",)
    show_full_result_count = False
