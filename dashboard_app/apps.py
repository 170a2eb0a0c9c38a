from __future__ import annotations

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard_app"
    verbose_name = "Web app for task owners"
    default_auto_field = "django.db.models.BigAutoField"
