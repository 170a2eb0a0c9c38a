"""The in-app channel: the Notification row is the feed entry, so delivering it is publishing it.

The row exists from the moment the reminder fires; marking it sent is what makes it count as
delivered in the feed (`GET /api/v1/notifications/`). Nothing leaves the process.
"""

from __future__ import annotations

from notifications_app.channels.email import NOT_CONFIGURED as EMAIL_NOT_CONFIGURED


def in_app_body(*, text: str, email_requested: bool, email_configured: bool) -> str:
    """The feed text; it says so when an email the user asked for could not be sent."""
    if email_requested and not email_configured:
        return f"{text}\n\n{EMAIL_NOT_CONFIGURED}"
    return text
