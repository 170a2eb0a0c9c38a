"""What every page of the web app shares: login, the user's time zone, fragments for htmx."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from dashboard_app.selectors import feed_position
from notifications_app.selectors import notification_settings_for
from webapp.events import topics
from webapp.timezones import known_time_zone

P = ParamSpec("P")

# Which fragments an event refreshes: anything about tasks or series re-reads the task views,
# reminder and delivery events re-read the notifications count and feed.
TASK_EVENTS = (
    topics.TASK_CREATED,
    topics.TASK_UPDATED,
    topics.TASK_COMPLETED,
    topics.TASK_REOPENED,
    topics.TASK_DELETED,
    topics.SERIES_CREATED,
    topics.SERIES_UPDATED,
    topics.SERIES_DELETED,
)
ALERT_EVENTS = (topics.REMINDER_FIRED, topics.NOTIFICATION_SENT, topics.NOTIFICATION_FAILED)


def user_of(request: HttpRequest) -> User:
    return cast(User, request.user)


def user_time_zone(user: User) -> str:
    return notification_settings_for(user_id=user.pk).timezone


def owner_view(
    view: Callable[Concatenate[HttpRequest, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
    """A page of a logged-in user, rendered in their time zone (the one their reminders use).

    Form fields read local times in that zone too: Django's form fields make naive input
    aware in the current zone.
    """

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        user = user_of(request)
        if request.method == "GET" and not is_htmx(request):
            # The page's event stream starts where the data it shows ends (base.html).
            request.feed_position = feed_position(user=user)  # type: ignore[attr-defined]
        zone = known_time_zone(user_time_zone(user)) or timezone.get_default_timezone()
        with timezone.override(zone):
            return view(request, *args, **kwargs)

    return cast(Callable[Concatenate[HttpRequest, P], HttpResponse], login_required(wrapped))


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def page(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """Render a page (or, for htmx, the fragment template named `_<template>` if asked)."""
    return render(request, f"dashboard_app/{template}", context, status=status)
