from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from webapp.events.views import EventFeedView

urlpatterns: list[URLPattern | URLResolver] = [
    path("events/", EventFeedView.as_view(), name="event-feed"),
]
