"""`manage.py mcp_server` over stdio, spawned as an assistant would, against the test database."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from mcp import Client, StdioServerParameters

from accounts_app.tokens import api_token_create, api_token_revoke
from tasks_app.models import Task

ROOT = Path(__file__).resolve().parents[2]


def command_env(token: str) -> dict[str, str]:
    """The test database (committed data is visible to the child) and the token."""
    url = urlsplit(os.environ["DATABASE_URL"])
    test_db = settings.DATABASES["default"]["NAME"]
    return {
        "DATABASE_URL": urlunsplit(url._replace(path=f"/{test_db}")),
        "TODO_API_TOKEN": token,
        "EVENT_RUNTIME": "inline",
        "TODO_EMBEDDED": "true",
        "VAR_DIR": os.environ["VAR_DIR"],
        "LOG_JSON": "false",
    }


def test_the_stdio_command_serves_the_tools_for_the_tokens_owner(owner: User) -> None:
    token, secret = api_token_create(user=owner, name="desktop", scopes="read write")
    server = StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "mcp_server"],
        env=command_env(secret),
        cwd=ROOT,
    )

    async def scenario() -> list[Any]:
        async with Client(server) as client:
            listed = await client.list_tools()
            added = await client.call_tool("add_task", {"title": "Over stdio", "tags": ["cli"]})
            await sync_to_async(api_token_revoke, thread_sensitive=True)(token=token)
            refused = await client.call_tool("list_tasks", {})
            return [listed, added, refused]

    listed, added, refused = anyio.run(scenario)

    assert len(listed.tools) == 15
    assert not added.is_error
    task = Task.objects.get(pk=added.structured_content["id"])
    assert task.owner == owner and task.tags == ["cli"]
    # Checked on every call: revoking the token stops a running server at once.
    assert refused.is_error and "revoked" in refused.content[0].text


@pytest.mark.parametrize("credential", ["", "todo_pat_made-up"], ids=["unset", "unknown"])
def test_the_command_refuses_to_start_without_a_usable_token(
    credential: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TODO_API_TOKEN", credential)

    with pytest.raises(CommandError, match="TODO_API_TOKEN"):
        call_command("mcp_server")
