"""/mcp counts against the caller's API rate limit: one budget per user with the REST API."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import httpx2
import pytest
from django.contrib.auth.models import User
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from rest_framework.test import APIClient

from tasks_app.models import Task
from tests.chatbot_app.conftest import INITIALIZE, MCP_HEADERS, token_for

LIMIT = 6


@pytest.fixture(autouse=True)
def _tight_limit(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user": f"{LIMIT}/minute",
        },
    }


def rest_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def add_tasks_until_refused(url: str, secret: str, tries: int) -> tuple[int, str | None]:
    """One SDK client session over HTTP adding tasks: how many went through, and the refusal."""

    added = 0

    async def scenario() -> None:
        nonlocal added
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {secret}"}) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            for number in range(tries):
                result = await client.call_tool("add_task", {"title": f"Task {number}"})
                assert not result.is_error, result.content
                added += 1

    try:
        anyio.run(scenario)
    except (MCPError, BaseExceptionGroup) as exc:
        # A refused initialize surfaces from the client's task group, wrapped in a group.
        refused = exc.split(MCPError)[0] if isinstance(exc, BaseExceptionGroup) else exc
        if refused is None:
            raise
        while isinstance(refused, BaseExceptionGroup):
            refused = refused.exceptions[0]
        return added, str(refused)
    return added, None


def test_mcp_calls_and_rest_requests_share_one_budget(
    base_url: str, owner: User, outsider: User
) -> None:
    secret = token_for(owner)

    # The session's initialize and initialized notification are requests too.
    added, refusal = add_tasks_until_refused(f"{base_url}/mcp", secret, tries=LIMIT)

    assert added == LIMIT - 2
    assert refusal is not None and "throttled" in refusal
    assert Task.objects.filter(owner=owner).count() == LIMIT - 2
    assert rest_client(secret).get("/api/v1/tasks/").status_code == 429
    # Another user's budget is their own.
    assert rest_client(token_for(outsider)).get("/api/v1/tasks/").status_code == 200


def test_after_rest_answered_429_mcp_answers_429_with_retry_after(
    base_url: str, owner: User
) -> None:
    secret = token_for(owner)
    rest = rest_client(secret)
    statuses = [rest.get("/api/v1/tasks/").status_code for _ in range(LIMIT + 1)]

    response = httpx.post(
        f"{base_url}/mcp",
        json=INITIALIZE,
        headers={**MCP_HEADERS, "Authorization": f"Bearer {secret}"},
    )
    added, refusal = add_tasks_until_refused(f"{base_url}/mcp", secret, tries=1)

    assert statuses[-1] == 429
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["error"]["message"].startswith("Request was throttled.")
    assert body["error"]["data"]["retry_after"] == int(response.headers["retry-after"])
    assert added == 0 and refusal is not None and "throttled" in refusal
    assert not Task.objects.exists()


def test_a_request_without_a_token_is_still_a_401(base_url: str) -> None:
    response = httpx.post(f"{base_url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)

    assert response.status_code == 401
