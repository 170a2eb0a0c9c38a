"""Django's WSGI app served from the ASGI event loop: one hand-off to a request thread and back.

a2wsgi's WSGIMiddleware (used before) hands every message of an answer back to the event loop
and blocks the request thread until the loop has taken it: status, body and end made three
round trips per request, each waking the loop, and a POST's body a fourth. Under load those
hops were a fifth of a web process's CPU and most of its tail latency. Here the loop reads the
request body before the thread starts, the thread runs Django and hands back the whole answer,
and the loop sends it. Only a streaming response (Django's `streaming` attribute: static files
under `make run`) goes chunk by chunk from the thread.

The environ is a2wsgi's (`build_environ`), so Django sees exactly what it saw before.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.asgi_typing import HTTPScope, Receive, Scope, Send
from a2wsgi.wsgi import build_environ
from a2wsgi.wsgi_typing import Environ, WSGIApp

# What a request thread hands back: status, headers and, unless it streamed them, the body.
_Answer = tuple[int, list[tuple[bytes, bytes]], bytes | None]


class WsgiBridge:
    """An ASGI app running `app` (WSGI) on at most `threads` long-lived threads.

    A body larger than `max_body` bytes (by its Content-Length) is not read: Django refuses
    it from the header alone (DATA_UPLOAD_MAX_MEMORY_SIZE), and a body without a length is
    one WSGI does not read either.
    """

    def __init__(self, app: WSGIApp, *, threads: int, max_body: int | None) -> None:
        self.app = app
        self.max_body = max_body
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["type"] != "http":
            return  # lifespan belongs to the apps in front (chatbot_app.mcp_server)
        body = await self._read_body(scope, receive)
        environ = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(
            self.executor, self._answer, environ, loop, send
        )
        if content is not None:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})

    async def _read_body(self, scope: HTTPScope, receive: Receive) -> bytes:
        length = _content_length(scope)
        if not length or (self.max_body is not None and length > self.max_body):
            return b""
        chunks: list[bytes] = []
        received = 0
        while received < length:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; Django reads a short body and fails the parse
            chunk = message.get("body", b"")
            chunks.append(chunk)
            received += len(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _answer(self, environ: Environ, loop: asyncio.AbstractEventLoop, send: Send) -> _Answer:
        """Runs in a request thread: Django's whole answer, or its stream sent from here."""
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [int(status.split(" ", 1)[0]), _encoded(headers)]
            return _no_write

        iterable: Iterable[bytes] = self.app(environ, start_response)
        try:
            if not getattr(iterable, "streaming", False):
                body = b"".join(iterable)  # first: WSGI lets an app start its answer lazily
                return started[0], started[1], body

            def hand_over(message: Any) -> None:
                asyncio.run_coroutine_threadsafe(_sent(send, message), loop).result()

            hand_over({"type": "http.response.start", "status": started[0], "headers": started[1]})
            for chunk in iterable:
                hand_over({"type": "http.response.body", "body": chunk, "more_body": True})
            hand_over({"type": "http.response.body", "body": b""})
            return started[0], started[1], None
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()


async def _sent(send: Send, message: Any) -> None:
    await send(message)


def _content_length(scope: HTTPScope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin1"), value.encode("latin1")) for name, value in headers]


def _no_write(data: bytes) -> None:
    # WSGI's legacy write(): Django never calls it, it returns its body as an iterable.
    raise NotImplementedError("write() is not supported; return the body as an iterable")
