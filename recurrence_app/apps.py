from __future__ import annotations

from django.apps import AppConfig


class RecurrenceConfig(AppConfig):
    name = "recurrence_app"
    verbose_name = "Recurring series"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from recurrence_app import handlers  # noqa: F401  # registers the subscribers and jobs
