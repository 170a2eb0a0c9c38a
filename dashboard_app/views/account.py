"""Registration (the API's rules), the settings page and personal API tokens."""

from __future__ import annotations

import json
import math
from typing import Any, cast

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import ValidationError as DrfValidationError
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts_app.serializers import RegisterSerializer
from accounts_app.services import user_register
from accounts_app.token_serializers import ApiTokenCreateSerializer
from accounts_app.tokens import api_token_create, api_token_get, api_token_list, api_token_revoke
from dashboard_app.forms import RegisterForm, SettingsForm, TokenForm, add_api_errors
from dashboard_app.views.common import owner_view, page, user_of
from notifications_app.selectors import notification_settings_for
from notifications_app.serializers import NotificationSettingsUpdateSerializer
from notifications_app.services import notification_settings_update
from webapp.api.throttling import AuthRateThrottle

ValidationErrors = (DrfValidationError, DjangoValidationError)
MCP_SERVER_NAME = "todo"


@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard:tasks")
    form = RegisterForm(request.POST or None)
    if request.method == "POST":
        wait = _registration_wait(request)
        if wait is not None:
            response = page(request, "register.html", {"form": form, "wait": wait}, status=429)
            response["Retry-After"] = str(wait)
            return response
    if request.method == "POST" and form.is_valid():
        serializer = RegisterSerializer(data=form.cleaned_data)
        try:
            serializer.is_valid(raise_exception=True)
            user = user_register(**serializer.validated_data)
        except ValidationErrors as exc:
            add_api_errors(form, exc)
        else:
            login(request, cast(User, user), backend="django.contrib.auth.backends.ModelBackend")
            return redirect("dashboard:tasks")
    return page(request, "register.html", {"form": form}, status=400 if form.errors else 200)


def _registration_wait(request: HttpRequest) -> int | None:
    """None if this client address may register now, else the seconds to wait: the API's
    register and token limit (API_THROTTLE_AUTH), counted on the same key, so the page is no
    way around it."""
    throttle = AuthRateThrottle()
    if throttle.allow_request(Request(request), APIView()):
        return None
    return max(1, math.ceil(throttle.wait() or 1))


def mcp_client_config(request: HttpRequest, secret: str) -> str:
    """The configuration an MCP client (a chatbot, a desktop assistant) needs, ready to paste:
    the streamable-HTTP endpoint of this server with the token as its bearer credential."""
    config = {
        "mcpServers": {
            MCP_SERVER_NAME: {
                "type": "http",
                "url": request.build_absolute_uri("/mcp"),
                "headers": {"Authorization": f"Bearer {secret}"},
            }
        }
    }
    return json.dumps(config, indent=2)


def _settings_page(
    request: HttpRequest,
    *,
    form: SettingsForm | None = None,
    token_form: TokenForm | None = None,
    created: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = user_of(request)
    prefs = notification_settings_for(user_id=user.pk)
    initial = {
        "timezone": prefs.timezone,
        "email": prefs.email,
        "push": prefs.push,
        "in_app": prefs.in_app,
    }
    context = {
        "form": form or SettingsForm(initial=initial),
        "token_form": token_form or TokenForm(),
        "tokens": list(api_token_list(user=user)),
        "created": created,
    }
    return page(request, "settings.html", context, status=status)


@require_http_methods(["GET", "POST"])
@owner_view
def settings_view(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _settings_page(request)
    form = SettingsForm(request.POST)
    if form.is_valid():
        serializer = NotificationSettingsUpdateSerializer(data=form.cleaned_data)
        try:
            serializer.is_valid(raise_exception=True)
            notification_settings_update(
                user=user_of(request), changes=dict(serializer.validated_data)
            )
        except ValidationErrors as exc:
            add_api_errors(form, exc)
        else:
            return redirect("dashboard:settings")
    return _settings_page(request, form=form, status=400)


@require_POST
@owner_view
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a token and show its secret this once, inside the client configuration."""
    token_form = TokenForm(request.POST)
    if token_form.is_valid():
        serializer = ApiTokenCreateSerializer(data=token_form.cleaned_data)
        try:
            serializer.is_valid(raise_exception=True)
            token, secret = api_token_create(user=user_of(request), **serializer.validated_data)
        except ValidationErrors as exc:
            add_api_errors(token_form, exc)
        else:
            # Rendered, not redirected: the secret must not land in a URL or the session.
            created = {
                "token": token,
                "secret": secret,
                "config": mcp_client_config(request, secret),
            }
            return _settings_page(request, created=created, status=201)
    return _settings_page(request, token_form=token_form, status=400)


@require_POST
@owner_view
def token_revoke(request: HttpRequest, token_id: str) -> HttpResponse:
    api_token_revoke(token=api_token_get(user=user_of(request), token_id=token_id))
    return redirect("dashboard:settings")
