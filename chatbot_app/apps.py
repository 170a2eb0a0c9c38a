from __future__ import annotations

from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    name = "chatbot_app"
    verbose_name = "Chatbot"
    default_auto_field = "django.db.models.BigAutoField"
