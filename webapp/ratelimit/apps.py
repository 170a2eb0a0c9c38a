from __future__ import annotations

from django.apps import AppConfig


class RateLimitConfig(AppConfig):
    name = "webapp.ratelimit"
    label = "ratelimit"
    verbose_name = "Rate limits"
    default_auto_field = "django.db.models.BigAutoField"
