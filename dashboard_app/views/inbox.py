"""The in-app notifications feed and its unread count."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from dashboard_app.selectors import in_app_feed, unread_count
from dashboard_app.services import feed_mark_seen
from dashboard_app.views.common import is_htmx, owner_view, page, user_of

FEED_PAGE_SIZE = 30


@require_GET
@owner_view
def notifications(request: HttpRequest) -> HttpResponse:
    """The feed, newest first. Showing it does not mark it read (a GET changes nothing);
    the page's "Mark all read" does, and htmx re-fetches only the entries on new events."""
    user = user_of(request)
    current = Paginator(in_app_feed(user=user), FEED_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page_obj": current, "unread": unread_count(user=user)}
    template = "_notification_entries.html" if is_htmx(request) else "notifications.html"
    return page(request, template, context)


@require_POST
@owner_view
def notifications_read(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    newest = in_app_feed(user=user).values_list("id", flat=True).first()
    if newest is not None:
        feed_mark_seen(user=user, up_to=newest)
    return redirect("dashboard:notifications")


@require_GET
@owner_view
def unread(request: HttpRequest) -> HttpResponse:
    return page(request, "_unread.html", {"unread": unread_count(user=user_of(request))})
