from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from chatbot_app.views import ConversationView

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "conversations/<slug:conversation_id>/",
        ConversationView.as_view(),
        name="conversation-detail",
    ),
]
