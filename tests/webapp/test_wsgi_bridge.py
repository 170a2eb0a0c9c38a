"""The WSGI bridge: one hand-off per answer, streams chunk by chunk, bodies read on the loop.

Driven with ASGI messages on a real event loop and WSGI apps written here; the same bridge
serving Django over HTTP is covered by tests/webapp/test_serving.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

from webapp.wsgi_bridge import WsgiBridge

StartResponse = Callable[..., Any]


def scope(*, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {
        "type": "http",
        "method": method,
        "path": "/things/",
        "root_path": "",
        "query_string": b"page=2",
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 40000),
        "headers": headers or [],
    }


def serve(
    bridge: WsgiBridge, request_scope: Any, body_messages: list[dict[str, Any]] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The messages `bridge` sends for one request, and how many times it called receive."""
    sent: list[dict[str, Any]] = []
    pending = list(body_messages or [])
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(bridge(request_scope, cast(Any, receive), cast(Any, send)))
    return sent, received


class Recorder:
    """A WSGI app answering with what it was asked, recording the thread it ran on."""

    def __init__(self) -> None:
        self.environ: dict[str, Any] = {}
        self.body = b""
        self.thread = ""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        self.environ = environ
        self.thread = threading.current_thread().name
        length = int(environ.get("CONTENT_LENGTH") or 0)
        self.body = environ["wsgi.input"].read(length)
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-Seen", "yes")])
        return [b"got ", self.body]


def test_an_answer_is_sent_whole_as_two_messages_from_one_thread_hand_off() -> None:
    app = Recorder()
    bridge = WsgiBridge(app, threads=2, max_body=1000)  # type: ignore[arg-type]
    request = scope(method="POST", headers=[(b"content-length", b"11")])

    sent, _ = serve(
        bridge,
        request,
        [
            {"type": "http.request", "body": b"hello", "more_body": True},
            {"type": "http.request", "body": b" world", "more_body": False},
        ],
    )

    assert app.body == b"hello world"
    assert app.thread.startswith("wsgi")
    assert app.environ["REQUEST_METHOD"] == "POST"
    assert app.environ["PATH_INFO"] == "/things/"
    assert app.environ["QUERY_STRING"] == "page=2"
    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-seen", b"yes")],
        },
        {"type": "http.response.body", "body": b"got hello world"},
    ]


def test_a_body_over_the_limit_is_not_read_and_django_sees_its_length() -> None:
    app = Recorder()
    bridge = WsgiBridge(app, threads=1, max_body=10)  # type: ignore[arg-type]
    request = scope(method="POST", headers=[(b"content-length", b"11")])

    sent, received = serve(
        bridge, request, [{"type": "http.request", "body": b"hello world", "more_body": False}]
    )

    assert received == 0
    # Django refuses the request from this header (DATA_UPLOAD_MAX_MEMORY_SIZE): a 413 here.
    assert app.environ["CONTENT_LENGTH"] == "11"
    assert app.body == b""
    assert sent[0]["status"] == 201


def test_a_client_gone_mid_body_leaves_the_app_a_short_body() -> None:
    app = Recorder()
    bridge = WsgiBridge(app, threads=1, max_body=None)  # type: ignore[arg-type]
    request = scope(method="POST", headers=[(b"content-length", b"11")])

    _, received = serve(
        bridge, request, [{"type": "http.request", "body": b"hello", "more_body": True}]
    )

    assert received == 2  # the chunk, then the disconnect
    assert app.body == b"hello"


class Streamed:
    """What Django's StreamingHttpResponse is to WSGI: chunks, `streaming`, and close()."""

    streaming = True

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def test_a_streaming_answer_goes_chunk_by_chunk_and_is_closed() -> None:
    stream = Streamed([b"one", b"two"])

    def app(environ: dict[str, Any], start_response: StartResponse) -> Streamed:
        start_response("200 OK", [("Content-Type", "text/csv")])
        return stream

    sent, _ = serve(WsgiBridge(app, threads=1, max_body=None), scope())  # type: ignore[arg-type]

    assert [message.get("body") for message in sent] == [None, b"one", b"two", b""]
    assert sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/csv")],
    }
    assert [message.get("more_body", False) for message in sent[1:]] == [True, True, False]
    assert stream.closed


def test_a_websocket_is_closed_politely() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    bridge = WsgiBridge(Recorder(), threads=1, max_body=None)  # type: ignore[arg-type]
    asyncio.run(bridge({"type": "websocket"}, receive, send))  # type: ignore[arg-type]

    assert sent == [{"type": "websocket.close", "code": 1000}]


def test_an_app_that_starts_its_answer_as_it_is_iterated_is_answered() -> None:
    """WSGI lets an app call start_response when its body is first iterated."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"late"

    sent, _ = serve(WsgiBridge(app, threads=1, max_body=None), scope())  # type: ignore[arg-type]

    assert sent == [
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        },
        {"type": "http.response.body", "body": b"late"},
    ]
