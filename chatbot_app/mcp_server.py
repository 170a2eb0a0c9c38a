"""The MCP server (official `mcp` SDK) and its two ways in: streamable HTTP at /mcp, and stdio.

Over HTTP the server is stateless (each POST stands alone, answered with JSON), so any web
replica can answer any request and no session has to stick to a pod.

Tool calls run concurrently on a fixed pool of MCP_TOOL_THREADS threads (`ToolRunner`), so one
user's slow call never holds up another's, and each is cancelled after
MCP_TOOL_TIMEOUT_SECONDS. Requests to /mcp count against the caller's API rate limit, the same
budget as the REST API (`McpRateLimit`).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import math
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import AnyHttpUrl
from rest_framework.request import Request
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from chatbot_app import scheduling_tools, tools
from chatbot_app.principal import CredentialVerifier
from webapp.api.throttling import UserRateThrottle

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
# Django's ASGI handler (its signature is narrower than Starlette's ASGIApp alias).
DjangoApp = Callable[..., Awaitable[None]]
INSTRUCTIONS = (
    "Tools to manage the user's tasks on the Todo platform. Priorities are names (low, medium, "
    "high, urgent). Times are RFC 3339 with an offset. Write tools need a token with the "
    "'write' scope. A tool error's text is JSON: {field: [messages]} or {detail: message}."
)

# Imported for their @tool registrations.
_TOOL_MODULES = (tools, scheduling_tools)


class _Cancelled(Exception):
    """Raised in a tool's thread at its next query once its call has timed out."""


@dataclass
class _Call:
    """One tool call in flight: what it runs, and how to stop its database work."""

    function: Callable[..., Any]
    arguments: dict[str, Any]
    cancelled: bool = False
    finished: bool = False
    database: BaseDatabaseWrapper | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def guard(self, execute: Callable[..., Any], *query: Any) -> Any:
        """Django's execute_wrapper: no new query once the call has been given up."""
        if self.cancelled:
            raise _Cancelled
        return execute(*query)

    def cancel(self) -> None:
        """Stop the call: its next query fails, and PostgreSQL cancels the one running now
        (waiting on a row lock, say), so its transaction rolls back and its thread is freed."""
        self.cancelled = True
        with self.lock:
            # Under the lock: the thread cannot move on to another call, whose query this
            # would cancel instead.
            raw = None if self.finished or self.database is None else self.database.connection
            if raw is not None:
                try:
                    raw.cancel_safe(timeout=5)
                except Exception:  # the connection is closing or the server is gone
                    logger.warning("could not cancel a tool's query", exc_info=True)


def _error(body: Any) -> CallToolResult:
    """A tool error whose text is a JSON error body, as the REST API would answer."""
    text = json.dumps(body, ensure_ascii=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


class ToolRunner:
    """Runs tool calls on a fixed pool of threads, each call bounded in time.

    A tool's sync work is handed to Django's thread-sensitive executor, which outside a request
    is one thread for the whole process: every call of every user ran there, one at a time.
    Here each call takes a thread of its own from a pool of MCP_TOOL_THREADS (the connection
    pool is sized for them; later calls queue) and is driven from it with `async_to_sync`, so
    that thread is the "outer sync thread" the tool's thread-sensitive work runs in.

    A call that has not answered after MCP_TOOL_TIMEOUT_SECONDS (queueing included) is
    answered with a tool error and stopped: the query it is running is cancelled and it may
    start no other, so a blocked call gives its thread back.
    """

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=settings.MCP_TOOL_THREADS, thread_name_prefix="mcp-tool"
                )
            return self._executor

    async def run(
        self, tool: Callable[..., Awaitable[Any]], arguments: dict[str, Any], *, name: str
    ) -> Any:
        # Made on the event loop, so the tool's coroutine runs on this loop, not a new one.
        call = _Call(function=async_to_sync(tool), arguments=arguments)
        timeout: float = settings.MCP_TOOL_TIMEOUT_SECONDS
        loop = asyncio.get_running_loop()
        # The copied context carries the caller: the SDK's access token, or the local credential.
        context = contextvars.copy_context()
        future = loop.run_in_executor(self.executor, context.run, self._work, call)
        try:
            with anyio.move_on_after(timeout):
                return await future
        finally:
            if not call.finished:
                # Timed out, or the client went away: cancelling may wait on the database, so
                # it runs off the event loop.
                loop.run_in_executor(None, call.cancel)
        logger.warning("tool call timed out", extra={"tool": name, "timeout": timeout})
        return _error(
            {"detail": f"The tool call took longer than {timeout:g} s and was cancelled."}
        )

    @staticmethod
    def _work(call: _Call) -> Any:
        database = connections[DEFAULT_DB_ALIAS]
        call.database = database
        try:
            with database.execute_wrapper(call.guard):
                return call.function(**call.arguments)
        finally:
            with call.lock:
                call.finished = True
            # A thread holds a connection only while a call runs (back to the pool, if any).
            connections.close_all()


def _tool_function(spec: tools.ToolSpec, runner: ToolRunner) -> Callable[..., Any]:
    """The tools module's callable for `spec` (its published signature, argument checks and
    error bodies), run by `runner`."""
    tool = tools.as_mcp_function(spec)

    async def call(**arguments: Any) -> Any:
        return await runner.run(tool, arguments, name=spec.name)

    call.__name__ = tool.__name__
    call.__doc__ = tool.__doc__
    call.__signature__ = inspect.signature(tool)  # type: ignore[attr-defined]
    call.__annotations__ = dict(getattr(tool, "__annotations__", {}))
    return call


RUNNER = ToolRunner()


def build_server() -> MCPServer:
    server: MCPServer = MCPServer(
        name="todo",
        title="Todo tasks",
        instructions=INSTRUCTIONS,
        version="1.0.0",
        token_verifier=CredentialVerifier(),
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(settings.PUBLIC_BASE_URL),
            resource_server_url=None,
            required_scopes=["read"],
        ),
    )
    for spec in tools.REGISTRY:
        server.add_tool(
            _tool_function(spec, RUNNER),
            name=spec.name,
            title=spec.title,
            description=spec.function.__doc__,
            annotations=ToolAnnotations(
                title=spec.title,
                read_only_hint=not spec.write,
                destructive_hint=spec.name.startswith(("delete_", "remove_", "stop_")),
            ),
        )
    return server


def build_http_app(server: MCPServer) -> Starlette:
    """The streamable-HTTP app for `server`; its lifespan runs the SDK's session manager."""
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        # Host checks happen in McpRouter against ALLOWED_HOSTS, Django's own list.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    # Last in the list, so inside the SDK's bearer authentication: it knows the caller.
    app.user_middleware.append(Middleware(McpRateLimit))
    return app


def _throttle_check(user_id: int) -> float | None:
    """None if the user may make one more request, else the seconds until they may.

    The REST API's own throttle, with its rate (API_THROTTLE_USER), key and counters (shared
    by every replica), so /mcp and the REST API draw on one budget per user.
    """
    request = Request(HttpRequest())
    request.user = User(pk=user_id)
    throttle = UserRateThrottle()
    try:
        if throttle.allow_request(request, None):  # type: ignore[arg-type]  # no view: unused
            return None
        return throttle.wait() or 1.0
    finally:
        close_old_connections()


class McpRateLimit:
    """Answers a caller over the API rate limit with 429, Retry-After and a JSON-RPC error.

    The official client surfaces a JSON-RPC error body sent at a 4xx status as an error with
    that message; any HTTP client sees the 429 and Retry-After, as from the REST API.
    Unauthenticated requests pass on to the SDK, which answers them 401.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user") if scope["type"] == "http" else None
        subject = user.access_token.subject if isinstance(user, AuthenticatedUser) else None
        if subject is not None:
            wait = await sync_to_async(_throttle_check, thread_sensitive=True)(int(subject))
            if wait is not None:
                seconds = max(1, math.ceil(wait))
                message = f"Request was throttled. Expected available in {seconds} seconds."
                body = {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {"code": -32000, "message": message, "data": {"retry_after": seconds}},
                }
                response = JSONResponse(
                    body, status_code=429, headers={"Retry-After": str(seconds)}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class McpRouter:
    """Sends /mcp to the MCP app and everything else to Django.

    Lifespan events go to the MCP app alone (Django's ASGI handler has no lifespan): its
    startup starts the SDK's session manager, which must run for /mcp to answer, so the server
    runs this app with lifespan on (`manage.py serve` does; plain uvicorn's default does too).
    """

    def __init__(self, django_app: DjangoApp, mcp_app: Starlette) -> None:
        self.django_app = django_app
        self.mcp_app = mcp_app
        self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.mcp_app(scope, self._watch_startup(receive), send)
            return
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path not in (MCP_PATH, f"{MCP_PATH}/"):
            await self.django_app(scope, receive, send)
            return
        if not self._host_allowed(scope):
            await PlainTextResponse("Invalid Host header", status_code=400)(scope, receive, send)
            return
        if not self.started:
            await PlainTextResponse(
                "The MCP endpoint is not running: serve the app with ASGI lifespan on.",
                status_code=503,
            )(scope, receive, send)
            return
        await self.mcp_app({**scope, "path": MCP_PATH}, receive, send)

    def _watch_startup(self, receive: Receive) -> Receive:
        async def watched() -> Any:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.started = True
            elif message["type"] == "lifespan.shutdown":
                self.started = False
            return message

        return watched

    @staticmethod
    def _host_allowed(scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        domain, _port = split_domain_port(host)
        return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def build_asgi_application(django_app: DjangoApp) -> McpRouter:
    return McpRouter(django_app, build_http_app(build_server()))
