"""The MCP server (official `mcp` SDK) and its two ways in: streamable HTTP at /mcp, and stdio.

Over HTTP the server is stateless (each POST stands alone, answered with JSON), so any web
replica can answer any request and no session has to stick to a pod.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import ToolAnnotations
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from chatbot_app import scheduling_tools, tools
from chatbot_app.principal import CredentialVerifier

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
            tools.as_mcp_function(spec),
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
    return server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        # Host checks happen in McpRouter against ALLOWED_HOSTS, Django's own list.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


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
