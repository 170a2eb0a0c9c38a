"""Which credential may call which tool: write tools need the write scope; dead tokens nothing."""

from __future__ import annotations

import inspect
from datetime import timedelta

import time_machine
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts_app.authentication import WRITE_SCOPE_NEEDED
from accounts_app.models import ApiToken
from accounts_app.tokens import api_token_create, api_token_revoke
from chatbot_app import tools
from tasks_app.models import Task
from tests.chatbot_app.conftest import call_tool, ok, tool_error
from tests.conftest import create_task

WRITE_TOOLS = [spec.name for spec in tools.REGISTRY if spec.write]
READ_TOOLS = [spec.name for spec in tools.REGISTRY if not spec.write]


def test_every_write_tool_refuses_a_read_token(api: APIClient, read_token: str) -> None:
    made = create_task(api, title="Untouchable", tags=["keep"])
    arguments = {
        "task_id": made["id"],
        "title": "Changed",
        "priority": "low",
        "tag": "keep",
        "rule": "daily",
        "before": "PT1H",
        "reminder_id": "00000000-0000-0000-0000-000000000000",
    }

    for name in WRITE_TOOLS:
        accepted = _accepted_arguments(name, arguments)
        assert tool_error(call_tool(read_token, name, accepted)) == {
            "detail": WRITE_SCOPE_NEEDED
        }, name

    task = Task.objects.get(pk=made["id"])
    assert task.title == "Untouchable" and task.tags == ["keep"] and task.series_id is None
    assert Task.objects.count() == 1


def test_a_read_token_may_use_the_read_tools(api: APIClient, read_token: str) -> None:
    made = create_task(api, title="Visible")

    assert ok(call_tool(read_token, "get_task", {"task_id": made["id"]}))["title"] == "Visible"
    assert ok(call_tool(read_token, "list_tasks"))["count"] == 1
    assert "list_notifications" in READ_TOOLS


def test_a_revoked_token_can_call_nothing(owner: User) -> None:
    token, secret = api_token_create(user=owner, name="chat", scopes="read write")
    assert ok(call_tool(secret, "list_tasks"))["count"] == 0

    api_token_revoke(token=token)

    error = tool_error(call_tool(secret, "list_tasks"))
    assert error == {"detail": "Invalid, expired or revoked API token."}
    assert tool_error(call_tool(secret, "add_task", {"title": "x"})) == error
    assert not Task.objects.exists()


def test_an_expired_token_can_call_nothing(owner: User) -> None:
    expires = timezone.now() + timedelta(hours=1)
    _token, secret = api_token_create(user=owner, name="chat", scopes="read", expires_at=expires)

    with time_machine.travel(expires + timedelta(seconds=1)):
        assert "detail" in tool_error(call_tool(secret, "list_tasks"))
    assert ApiToken.objects.get().last_used_at is None


def test_an_unknown_credential_is_refused(owner: User) -> None:
    assert "detail" in tool_error(call_tool("todo_pat_made-up", "list_tasks"))
    assert "detail" in tool_error(call_tool("not-a-jwt", "list_tasks"))


def test_a_jwt_access_token_has_full_scopes(owner: User) -> None:
    access = str(RefreshToken.for_user(owner).access_token)

    task = ok(call_tool(access, "add_task", {"title": "From a JWT"}))

    assert Task.objects.get(pk=task["id"]).owner == owner


def test_an_inactive_users_token_is_refused(owner: User, owner_token: str) -> None:
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert "detail" in tool_error(call_tool(owner_token, "list_tasks"))


def _accepted_arguments(name: str, arguments: dict[str, str]) -> dict[str, str]:
    """The subset of `arguments` the tool declares (the scope check comes before validation)."""
    spec = next(spec for spec in tools.REGISTRY if spec.name == name)
    declared = set(inspect.signature(spec.function).parameters)
    return {key: value for key, value in arguments.items() if key in declared}
