"""The tools over streamable HTTP through the real ASGI app, served by uvicorn, with a bearer."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import httpx2
from django.contrib.auth.models import User
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from accounts_app.tokens import api_token_create, api_token_revoke
from tasks_app.models import Task
from tests.chatbot_app.conftest import INITIALIZE, MCP_HEADERS


def over_http(url: str, secret: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Open an SDK client session over streamable HTTP and make `calls` in order."""

    async def scenario() -> list[Any]:
        headers = {"Authorization": f"Bearer {secret}"}
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            results: list[Any] = [await client.list_tools()]
            for name, arguments in calls:
                results.append(await client.call_tool(name, arguments))
            return results

    return anyio.run(scenario)


def test_a_client_with_a_bearer_token_uses_the_tools(base_url: str, owner: User) -> None:
    _token, secret = api_token_create(user=owner, name="desktop", scopes="read write")

    listed, added, found = over_http(
        f"{base_url}/mcp",
        secret,
        [
            ("add_task", {"title": "Pay rent", "priority": "high"}),
            ("list_tasks", {"search": "rent"}),
        ],
    )

    assert {"add_task", "list_tasks", "set_recurring"} <= {tool.name for tool in listed.tools}
    assert not added.is_error and added.structured_content["priority"] == "high"
    task = Task.objects.get(pk=added.structured_content["id"])
    assert task.owner == owner and task.title == "Pay rent"
    assert [t["id"] for t in found.structured_content["results"]] == [str(task.pk)]


def test_a_read_token_over_http_cannot_write(base_url: str, owner: User) -> None:
    _token, secret = api_token_create(user=owner, name="viewer", scopes="read")

    _listed, refused = over_http(f"{base_url}/mcp", secret, [("add_task", {"title": "x"})])

    assert refused.is_error and "write" in refused.content[0].text
    assert not Task.objects.exists()


def test_no_unknown_or_revoked_token_is_a_401(base_url: str, owner: User) -> None:
    token, secret = api_token_create(user=owner, name="desktop", scopes="read write")
    url = f"{base_url}/mcp"

    missing = httpx.post(url, json=INITIALIZE, headers=MCP_HEADERS)
    unknown = httpx.post(
        url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": "Bearer todo_pat_nope"}
    )
    good = httpx.post(
        url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {secret}"}
    )
    api_token_revoke(token=token)
    revoked = httpx.post(
        url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {secret}"}
    )

    assert missing.status_code == unknown.status_code == revoked.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert good.status_code == 200 and good.json()["result"]["serverInfo"]["name"] == "todo"


def test_django_still_answers_everything_else(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz").status_code == 200
    assert httpx.get(f"{base_url}/api/v1/tasks/").status_code == 401


def test_a_host_outside_allowed_hosts_is_refused(base_url: str) -> None:
    response = httpx.post(
        f"{base_url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example"}
    )

    assert response.status_code == 400
