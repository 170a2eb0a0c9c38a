"""`GET /api/v1/events/stream/`: the user's change feed pushed as Server-Sent Events.

Each event goes out as `id: <feed position>`, `event: <CloudEvent type>`, `data: <the envelope,
as GET /api/v1/events/ lists it>`; a `: keepalive` comment follows every
EVENT_STREAM_HEARTBEAT_SECONDS of silence. A client resumes with `Last-Event-ID` (what
EventSource sends when it reconnects) or `?after=`.

Fan-out: PostgreSQL LISTEN/NOTIFY (notify.py), one listening connection per web process, not
per client. The database is the one piece every shape already shares (embedded `make run`,
several web workers, replicas under Kubernetes), and a notification is delivered only once its
transaction has committed, so "notified" means "readable". A Dapr pub/sub subscription per
replica would need a topic or consumer group per replica, exists only under Dapr, and hears
an event only once the relay has published it, later than the commit.

Never a gap or a duplicate: a notification says only "user U has something at or below
sequence S"; the stream then reads the gap-free feed above the last position it sent
(`selectors.event_feeds`: `event_feed` for many readers at once). The feed stops below any
sequence a writer may still commit, so events are sent in sequence order, each once, whatever
order concurrent writers commit in, and a lost notification (the listener reconnecting) costs
a re-read, which LISTEN taking effect triggers.

Held streams cost no request thread and no database connection: they are served here, on the
event loop, ahead of Django (on a fixed thread pool behind webapp.wsgi_bridge). Authentication
and feed reads are short synchronous calls on a small executor of their own
(EVENT_STREAM_READ_THREADS) that borrow a pooled connection for the call and give it back.
Feed reads are batched: one settling wait and one query serve every stream woken meanwhile.

Bounded: at most EVENT_STREAM_MAX_PER_USER streams per user across all processes and replicas
(429; stream_slots.py) and EVENT_STREAM_MAX streams in each web process (503). On SIGTERM or
SIGINT every stream is ended at once, so the server's graceful shutdown is not held up by
clients that never hang up; EventSource reconnects, to another worker or replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.handlers.asgi import ASGIRequest
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from webapp.events.notify import FeedListener
from webapp.events.selectors import FEED_MAX_LIMIT, event_feeds
from webapp.events.serializers import EventSerializer
from webapp.events.stream_slots import UserSlots
from webapp.middleware import database_unavailable_response

logger = logging.getLogger(__name__)

STREAM_PATH = "/api/v1/events/stream/"
# What EventSource waits before reconnecting after the stream ends (a shutdown, a dropped link).
RETRY_MILLISECONDS = 2000
# A notified event the feed did not yet return (held behind a slow writer): read again after
# this, doubling up to a second.
REREAD_FIRST_SECONDS = 0.05
REREAD_MAX_SECONDS = 1.0
# After a failed read (the database away): wait this long, then read again.
READ_FAILURE_SECONDS = 1.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (sequence, the event's SSE frame)
Frame = tuple[int, bytes]


class Refused(Exception):
    """A stream request answered with an error instead of a stream."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass(eq=False)
class Subscriber:
    """One open stream: the user it belongs to, the last position sent, what was announced."""

    user_id: int
    after: int
    # The highest sequence a notification announced for this user.
    target: int = 0
    # (slot, generation) of the user's slots this stream holds (stream_slots.py).
    slot: tuple[int, int] = (0, 0)
    closed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def sse_frame(event: Any) -> bytes:
    """The SSE frame of an outbox row; `data` is the feed's envelope, on one line."""
    envelope = EventSerializer(event).data
    data = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.sequence}\nevent: {event.type}\ndata: {data}\n\n".encode()


class StreamHub:
    """A web process's open streams, its one listener, and the executor for short DB calls.

    All state is touched from the event loop only; the executor threads get plain arguments.
    """

    def __init__(self) -> None:
        self._by_user: dict[int, set[Subscriber]] = {}
        self._count = 0
        self._closing = False
        self._listener: FeedListener | None = None
        self._listener_task: asyncio.Task[None] | None = None
        self._threads = settings.EVENT_STREAM_READ_THREADS
        self._executor: ThreadPoolExecutor | None = None
        self._queued: dict[tuple[int, int], asyncio.Future[list[Frame]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._slots = UserSlots()

    @property
    def open_streams(self) -> int:
        return self._count

    @property
    def closing(self) -> bool:
        return self._closing

    # --- subscribers -------------------------------------------------------------------------
    async def subscribe(self, user_id: int, after: int) -> Subscriber:
        if self._closing:
            raise Refused(503, {"detail": "The server is shutting down."}, {"Retry-After": "2"})
        if self._count >= settings.EVENT_STREAM_MAX:
            raise Refused(
                503,
                {"detail": "The server holds all the event streams it can."},
                {"Retry-After": "5"},
            )
        self._count += 1  # held while the slot is sought, so concurrent opens see it
        try:
            slot = await self._slots.acquire(user_id, settings.EVENT_STREAM_MAX_PER_USER)
        except BaseException:
            self._count -= 1
            raise
        if slot is None:
            self._count -= 1
            raise Refused(
                429,
                {
                    "detail": "Too many open event streams for this user "
                    f"(at most {settings.EVENT_STREAM_MAX_PER_USER})."
                },
                {"Retry-After": "5"},
            )
        self._start_listener()
        subscriber = Subscriber(user_id=user_id, after=after, target=after, slot=slot)
        self._by_user.setdefault(user_id, set()).add(subscriber)
        return subscriber

    async def unsubscribe(self, subscriber: Subscriber) -> None:
        streams = self._by_user.get(subscriber.user_id)
        if streams is None or subscriber not in streams:
            return
        streams.discard(subscriber)
        if not streams:
            del self._by_user[subscriber.user_id]
        self._count -= 1
        await self._slots.release(subscriber.user_id, *subscriber.slot)

    def notify(self, user_id: int, sequence: int) -> None:
        for subscriber in self._by_user.get(user_id, ()):
            if sequence > subscriber.target:
                subscriber.target = sequence
            subscriber.wake.set()

    def wake_all(self) -> None:
        for streams in self._by_user.values():
            for subscriber in streams:
                subscriber.wake.set()

    def begin_shutdown(self) -> None:
        """End every stream now and refuse new ones (a stop signal arrived)."""
        self._closing = True
        for streams in self._by_user.values():
            for subscriber in streams:
                subscriber.closed = True
                subscriber.wake.set()

    # --- the listener ------------------------------------------------------------------------
    def _start_listener(self) -> None:
        # Started with the first stream, so a process that never serves one holds no
        # listening connection.
        if self._listener_task is None:
            self._listener = FeedListener(on_notify=self.notify, on_connected=self.wake_all)
            self._listener_task = asyncio.get_running_loop().create_task(
                self._listener.run(), name="event-stream-listener"
            )

    @property
    def listening(self) -> bool:
        """Whether LISTEN is in effect: from then on every commit wakes its user's streams."""
        return self._listener is not None and self._listener.connected.is_set()

    # --- short synchronous calls -------------------------------------------------------------
    async def run_sync(self, function: Callable[..., Any], *args: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="event-stream")
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def read(self, user_id: int, after: int) -> list[Frame]:
        """The frames of the user's events above `after`, up to FEED_MAX_LIMIT.

        Reads are served in batches, one at a time: a batch holds every read asked for while
        the one before ran, so a burst of wake-ups costs one settling wait and one query, not
        one per stream; streams of one user at one position share an entry.
        """
        key = (user_id, after)
        future = self._queued.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._queued[key] = future
            if self._reader is None or self._reader.done():
                self._reader = asyncio.get_running_loop().create_task(self._read_batches())
        return await asyncio.shield(future)

    async def _read_batches(self) -> None:
        while self._queued:
            # Taken whole: what is asked from now on waits for the next batch, which starts
            # after this one and so sees whatever committed meanwhile.
            batch, self._queued = self._queued, {}
            try:
                frames: dict[tuple[int, int], list[Frame]] = await self.run_sync(
                    _read_frames, list(batch)
                )
            except Exception as exc:
                for future in batch.values():
                    future.set_exception(exc)
                    future.exception()  # seen: a stream that left meanwhile will not ask
            else:
                for key, future in batch.items():
                    future.set_result(frames[key])

    async def aclose(self) -> None:
        """End the streams, stop listening, and close the executor threads' connections."""
        self.begin_shutdown()
        if self._listener_task is not None:
            self._listener_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener_task
            self._listener_task = None
        await self._slots.aclose()
        executor, self._executor = self._executor, None
        if executor is not None:
            # One call on each thread, each held at the barrier until all have started, so
            # every thread closes its own connection.
            barrier = threading.Barrier(self._threads)
            calls = [executor.submit(_close_connections, barrier) for _ in range(self._threads)]
            await asyncio.gather(*(asyncio.wrap_future(call) for call in calls))
            executor.shutdown(wait=False)


def _read_frames(positions: list[tuple[int, int]]) -> dict[tuple[int, int], list[Frame]]:
    try:
        feeds = event_feeds(positions=positions, limit=FEED_MAX_LIMIT)
        return {
            key: [(event.sequence, sse_frame(event)) for event in events]
            for key, events in feeds.items()
        }
    finally:
        # Hands a pooled connection back (web processes), keeps a persistent one otherwise.
        close_old_connections()


def _close_connections(barrier: threading.Barrier) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(timeout=10)
    connections.close_all()


def _authenticate(scope: Scope) -> AbstractBaseUser:
    """The user of the request: a bearer credential (as the REST API takes it) or else the web
    app's session cookie. Raises Refused(401) without one."""
    request = ASGIRequest(dict(scope), io.BytesIO())
    try:
        try:
            # The REST API's authenticators, in its order.
            drf_request = Request(request, authenticators=APIView().get_authenticators())
            user = drf_request.user
            if user is None and "HTTP_AUTHORIZATION" not in request.META:
                user = _session_user(request)
        except exceptions.APIException as exc:
            body = exc.detail if isinstance(exc.detail, dict) else {"detail": exc.detail}
            raise Refused(401, body, {"WWW-Authenticate": 'Bearer realm="api"'}) from None
        if user is None or not user.is_authenticated or not user.is_active:
            raise Refused(
                401,
                {"detail": "Authentication credentials were not provided."},
                {"WWW-Authenticate": 'Bearer realm="api"'},
            )
        return user
    finally:
        close_old_connections()


def _session_user(request: ASGIRequest) -> AbstractBaseUser | None:
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
    user = get_user(request)
    return user if user.is_authenticated else None


def _position(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise Refused(400, {name: ["A valid integer is required."]}) from None
    if number < 0:
        raise Refused(400, {name: ["Ensure this value is greater than or equal to 0."]})
    return number


def stream_start_position(scope: Scope) -> int:
    """Where the stream starts: after `Last-Event-ID` (a reconnecting EventSource), else after
    `?after=`, else from the first event. 400 with a message per bad parameter."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    unknown = sorted(set(query) - {"after"})
    if unknown:
        raise Refused(400, {name: ["Unknown query parameter."] for name in unknown})
    headers = dict(scope.get("headers") or [])
    last_event_id = headers.get(b"last-event-id")
    if last_event_id is not None and last_event_id.strip():
        return _position(last_event_id.decode("latin-1").strip(), "Last-Event-ID")
    if "after" in query:
        return _position(query["after"][-1], "after")
    return 0


async def _respond_json(send: Send, status: int, body: Any, headers: dict[str, str]) -> None:
    payload = json.dumps(body).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class EventStreamApp:
    """Serves STREAM_PATH itself and hands every other request (and lifespan) to `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.hub = StreamHub()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._watch_lifespan(receive), send)
        elif scope["type"] == "http" and scope.get("path") == STREAM_PATH:
            await self.serve(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _watch_lifespan(self, receive: Receive) -> Receive:
        async def watched() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _chain_stop_signals(self.hub.begin_shutdown)
            elif message["type"] == "lifespan.shutdown":
                await self.hub.aclose()
            return message

        return watched

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope.get("method") != "GET":
                raise Refused(
                    405,
                    {"detail": f'Method "{scope.get("method")}" not allowed.'},
                    {"Allow": "GET"},
                )
            after = stream_start_position(scope)
            if self.hub.closing:
                raise Refused(503, {"detail": "The server is shutting down."}, {"Retry-After": "2"})
            user = await self.hub.run_sync(_authenticate, scope)
            subscriber = await self.hub.subscribe(int(user.pk), after)
        except Refused as refused:
            await _respond_json(send, refused.status, refused.body, refused.headers)
            return
        except (OperationalError, InterfaceError) as exc:
            # As DatabaseUnavailableMiddleware answers the rest of the API.
            logger.warning("database unavailable; answered 503", extra={"error": repr(exc)})
            response = database_unavailable_response()
            await _respond_json(
                send, 503, json.loads(response.content), {"Retry-After": response["Retry-After"]}
            )
            return
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, subscriber))
        try:
            await self._pump(scope, send, user, subscriber)
        except OSError:
            pass  # the client went away mid-write
        finally:
            watcher.cancel()
            await self.hub.unsubscribe(subscriber)

    async def _pump(
        self, scope: Scope, send: Send, user: AbstractBaseUser, subscriber: Subscriber
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache, no-store"),
                    (b"x-accel-buffering", b"no"),  # proxies pass each event on at once
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send(_body(f"retry: {RETRY_MILLISECONDS}\n\n".encode()))
        heartbeat = settings.EVENT_STREAM_HEARTBEAT_SECONDS
        next_beat = time.monotonic() + heartbeat
        reread = REREAD_FIRST_SECONDS
        recheck_at = time.monotonic() + settings.EVENT_STREAM_REAUTH_SECONDS
        while not subscriber.closed:
            if time.monotonic() >= recheck_at:
                if not await self._still_authenticated(scope, user):
                    break
                recheck_at = time.monotonic() + settings.EVENT_STREAM_REAUTH_SECONDS
            # Cleared before the read: a notification that lands during it wakes the next one.
            subscriber.wake.clear()
            retry_in: float | None = None
            try:
                frames = await self.hub.read(subscriber.user_id, subscriber.after)
            except Exception as exc:
                logger.warning("event stream read failed", extra={"error": repr(exc)})
                frames, retry_in = [], READ_FAILURE_SECONDS
            if frames:
                subscriber.after = frames[-1][0]
                await send(_body(b"".join(frame for _, frame in frames)))
                next_beat = time.monotonic() + heartbeat
                if len(frames) >= FEED_MAX_LIMIT:
                    continue  # a full page: more to read before waiting
            if retry_in is None and subscriber.after < subscriber.target:
                # Announced but not yet in the feed: it sits behind a writer still in flight.
                retry_in, reread = reread, min(reread * 2, REREAD_MAX_SECONDS)
            elif retry_in is None:
                reread = REREAD_FIRST_SECONDS
            next_beat = await _idle(send, subscriber, next_beat, heartbeat, retry_in, recheck_at)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _still_authenticated(self, scope: Scope, user: AbstractBaseUser) -> bool:
        """Whether the stream's credential still names its user: a stream outlives neither an
        expired or revoked token, nor a logout, nor a deactivation, by more than
        EVENT_STREAM_REAUTH_SECONDS. EventSource then reconnects and meets the 401."""
        try:
            again = await self.hub.run_sync(_authenticate, scope)
        except Refused:
            return False
        except (OperationalError, InterfaceError):
            return True  # the database is away: the feed reads will say so, not this check
        return bool(again.pk == user.pk)


async def _idle(
    send: Send,
    subscriber: Subscriber,
    next_beat: float,
    heartbeat: float,
    retry_in: float | None,
    recheck_at: float,
) -> float:
    """Wait for a wake-up (or `retry_in` seconds, or `recheck_at`), sending heartbeats
    meanwhile; returns when the next heartbeat is due."""
    retry_at = recheck_at if retry_in is None else min(time.monotonic() + retry_in, recheck_at)
    while not subscriber.wake.is_set():
        now = time.monotonic()
        if now >= retry_at:
            break
        if now >= next_beat:
            await send(_body(b": keepalive\n\n"))
            next_beat = now + heartbeat
            continue
        until = min(next_beat, retry_at)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(subscriber.wake.wait(), until - now)
    return next_beat


def _body(chunk: bytes) -> Message:
    return {"type": "http.response.body", "body": chunk, "more_body": True}


async def _watch_disconnect(receive: Receive, subscriber: Subscriber) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscriber.closed = True
            subscriber.wake.set()
            return


def _chain_stop_signals(callback: Callable[[], None]) -> None:
    """Run `callback` on the event loop when SIGTERM or SIGINT arrives, after the handler the
    server installed (uvicorn's, which starts its graceful shutdown)."""
    if threading.current_thread() is not threading.main_thread():
        return  # a server run on another thread (tests) handles no signals
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(sig: int, frame: Any, previous: Callable[..., Any] = previous) -> None:
            previous(sig, frame)
            loop.call_soon_threadsafe(callback)

        signal.signal(signum, handler)
