"""Template helpers of the web app."""

from __future__ import annotations

from django import template
from django.contrib.auth.models import User

from dashboard_app.selectors import unread_count
from dashboard_app.views.common import ALERT_EVENTS, TASK_EVENTS

register = template.Library()


@register.simple_tag
def task_event_types() -> str:
    return " ".join(TASK_EVENTS)


@register.simple_tag
def alert_event_types() -> str:
    return " ".join(ALERT_EVENTS)


@register.simple_tag
def unread_for(user: User) -> int:
    return unread_count(user=user)
