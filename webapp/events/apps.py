from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "webapp.events"
    label = "events"
    verbose_name = "Events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webapp.events.metrics import register_outbox_metrics

        register_outbox_metrics()
