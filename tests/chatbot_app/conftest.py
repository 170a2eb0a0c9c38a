"""MCP fixtures: personal tokens for the named users and an in-process MCP client."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import uvicorn
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult

from accounts_app.tokens import api_token_create
from chatbot_app.mcp_server import build_asgi_application, build_server
from chatbot_app.principal import local_credential

_server: MCPServer | None = None

# A raw client's first request over streamable HTTP, for tests below the MCP client.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def mcp_server() -> MCPServer:
    """One server for the whole run: building it is pure set-up, it keeps no per-test state."""
    global _server
    if _server is None:
        _server = build_server()
    return _server


def token_for(user: User, scopes: str = "read write") -> str:
    _token, secret = api_token_create(user=user, name=f"{user.username} {scopes}", scopes=scopes)
    return secret


def call_tool(
    credential: str, name: str, arguments: dict[str, Any] | None = None
) -> CallToolResult:
    """Call one tool through an SDK client session, as `credential`'s owner."""

    async def scenario() -> CallToolResult:
        with local_credential(credential):
            # "legacy": the initialize handshake and JSON-RPC over the SDK's in-memory streams,
            # as a real client session runs, rather than the direct in-process dispatch.
            async with Client(mcp_server(), mode="legacy") as client:
                return await client.call_tool(name, arguments or {})

    return anyio.run(scenario)


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a call that must have succeeded."""
    assert not result.is_error, result.content
    assert result.structured_content is not None
    data: dict[str, Any] = result.structured_content
    return data


def tool_error(result: CallToolResult) -> Any:
    """The JSON body carried by a tool error (the REST API's error body)."""
    assert result.is_error, result.structured_content
    text = result.content[0].text  # type: ignore[union-attr]
    return json.loads(text)


@pytest.fixture
def owner_token(owner: User) -> str:
    return token_for(owner)


@pytest.fixture
def outsider_token(outsider: User) -> str:
    return token_for(outsider)


@pytest.fixture
def read_token(owner: User) -> str:
    return token_for(owner, "read")


@pytest.fixture(autouse=True)
def _close_tool_connections() -> Iterator[None]:
    """Tools run in Django's thread-sensitive executor; close its connection after each test."""
    yield
    anyio.run(sync_to_async(connections.close_all, thread_sensitive=True))


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The web app (Django + /mcp) under uvicorn with lifespan on, as `manage.py serve` runs it."""
    from webapp.asgi import django_application  # the web process's own set-up, when needed

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    app = build_asgi_application(django_application)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)  # waiting for a server thread to bind, not test logic
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
