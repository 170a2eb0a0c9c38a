"""The event stream (GET /api/v1/events/stream/) over real HTTP: a uvicorn server on a thread of
this process serves the stream app, a real HTTP client reads it, writers commit to the test
database through the services' own `emit`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken

from accounts_app.tokens import api_token_create
from tests.conftest import make_user, wait_until
from tests.webapp.events.conftest import TEST_TOPIC, TEST_TYPE, emit_test_event
from tests.webapp.test_serve import free_port
from webapp.events.models import OutboxEvent
from webapp.events.notify import LISTENER_APPLICATION_NAME
from webapp.events.outbox import Event, emit_many
from webapp.events.selectors import event_feed
from webapp.events.serializers import EventFeedSerializer
from webapp.events.stream import STREAM_PATH, EventStreamApp, Receive, Scope, Send

READ_TIMEOUT = 10.0


@dataclass
class Message:
    """One SSE message: its fields (`id`, `event`, `data`, `retry`) and any comment lines."""

    fields: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


class SseReader:
    """Parses an SSE response as it arrives."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next_message(self) -> Message:
        message = Message()
        for line in self._lines:
            if line == "":
                if message.fields or message.comments:
                    return message
            elif line.startswith(":"):
                message.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                message.fields[name] = value.removeprefix(" ")
        raise EOFError("the stream ended")

    def remaining_lines(self) -> list[str]:
        """Every line until the server ends the stream."""
        return list(self._lines)

    def events(self, count: int, timeout: float = READ_TIMEOUT) -> list[Message]:
        """The next `count` messages that carry an event (skipping comments and `retry`),
        within `timeout` seconds (keepalives alone do not keep it waiting)."""
        found: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} events in {timeout} s")
            message = self.next_message()
            if "event" in message.fields:
                found.append(message)
        return found


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the rest of the web app behind the stream."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b""})


@dataclass
class StreamServer:
    url: str
    app: EventStreamApp


@contextmanager
def running_stream_server() -> Iterator[StreamServer]:
    """The stream app served by uvicorn on a thread of its own: a web process of its own."""
    app = EventStreamApp(_not_found)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, name="stream-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started)
    try:
        yield StreamServer(f"http://127.0.0.1:{port}{STREAM_PATH}", app)
    finally:
        server.should_exit = True  # its lifespan shutdown closes the hub and its connections
        thread.join(30)


@pytest.fixture
def stream_server() -> Iterator[StreamServer]:
    with running_stream_server() as server:
        yield server


@pytest.fixture
def another_process() -> Iterator[StreamServer]:
    with running_stream_server() as server:
        yield server


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


@contextmanager
def open_stream(
    server: StreamServer,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> Iterator[SseReader]:
    """An open stream, once its server listens: what commits next arrives by notification."""
    with (
        httpx.Client(timeout=httpx.Timeout(READ_TIMEOUT)) as client,
        client.stream("GET", server.url, headers=headers, params=params) as response,
    ):
        if response.status_code == 200:
            wait_until(lambda: server.app.hub.listening)
        yield SseReader(response)


def refused(url: str, **kwargs: Any) -> httpx.Response:
    """A request answered without a stream (bounded, so a stream opened by mistake fails)."""
    return httpx.get(url, timeout=READ_TIMEOUT, **kwargs)


def sequences(user: User) -> list[int]:
    return list(
        OutboxEvent.objects.filter(user_id=user.pk)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )


def test_a_commit_wakes_an_idle_stream_with_its_position_type_and_the_feeds_envelope(
    stream_server: StreamServer, owner: User, settings: Any
) -> None:
    settings.EVENT_STREAM_HEARTBEAT_SECONDS = 0.2
    with open_stream(stream_server, headers=bearer(owner)) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        stream.next_message()  # retry:
        # A keepalive: the stream has read everything and waits; only a notification wakes it.
        assert stream.next_message().comments == ["keepalive"]
        event = emit_test_event(owner, note="hello")
        (message,) = stream.events(1)

    # What GET /api/v1/events/ lists for it (its view renders the feed with these two).
    listed = EventFeedSerializer({"results": event_feed(user=owner), "next_after": 0}).data
    assert message.fields["id"] == str(event.sequence)
    assert message.fields["event"] == TEST_TYPE
    assert json.loads(message.fields["data"]) == listed["results"][0]


def test_concurrent_writers_events_arrive_once_each_in_order_and_only_the_users_own(
    stream_server: StreamServer, owner: User, outsider: User
) -> None:
    writers, per_writer = 4, 20
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            for n in range(per_writer):
                emit_test_event(owner, writer=number, n=n)
                emit_test_event(outsider, writer=number, n=n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    with open_stream(stream_server, headers=bearer(owner)) as stream:
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for thread in threads:
            thread.start()
        received = stream.events(writers * per_writer)
        for thread in threads:
            thread.join()

    ids = [int(message.fields["id"]) for message in received]
    assert errors == []
    assert ids == sequences(owner)  # every one of the owner's events, once, in order


def test_an_event_rolled_back_is_never_sent(stream_server: StreamServer, owner: User) -> None:
    with open_stream(stream_server, headers=bearer(owner)) as stream:
        with pytest.raises(RuntimeError), transaction.atomic():
            emit_test_event(owner, kept=False)
            raise RuntimeError("roll back")
        kept = emit_test_event(owner, kept=True)
        (message,) = stream.events(1)

    assert message.fields["id"] == str(kept.sequence)


def test_last_event_id_resumes_after_that_event_with_no_gap_or_repeat(
    stream_server: StreamServer, owner: User
) -> None:
    first, second, third = (emit_test_event(owner, n=n) for n in range(3))

    with open_stream(
        stream_server,
        headers={**bearer(owner), "Last-Event-ID": str(first.sequence)},
        params={"after": str(third.sequence)},  # a reconnect's header wins over the URL's
    ) as stream:
        replayed = stream.events(2)
        fourth = emit_test_event(owner, n=3)
        (live,) = stream.events(1)

    assert [m.fields["id"] for m in [*replayed, live]] == [
        str(second.sequence),
        str(third.sequence),
        str(fourth.sequence),
    ]


def test_after_in_the_query_resumes_after_that_position(
    stream_server: StreamServer, owner: User
) -> None:
    first, second = emit_test_event(owner, n=1), emit_test_event(owner, n=2)

    with open_stream(
        stream_server, headers=bearer(owner), params={"after": str(first.sequence)}
    ) as stream:
        (message,) = stream.events(1)

    assert message.fields["id"] == str(second.sequence)


@pytest.mark.parametrize(
    ("params", "headers", "errors"),
    [
        ({"after": "x"}, {}, {"after": ["A valid integer is required."]}),
        ({"after": "-1"}, {}, {"after": ["Ensure this value is greater than or equal to 0."]}),
        ({}, {"Last-Event-ID": "abc"}, {"Last-Event-ID": ["A valid integer is required."]}),
        ({"limit": "5"}, {}, {"limit": ["Unknown query parameter."]}),
    ],
    ids=["after-not-a-number", "after-negative", "last-event-id-not-a-number", "unknown"],
)
def test_bad_input_is_a_400_with_a_message_per_field(
    stream_server: StreamServer,
    owner: User,
    params: dict[str, str],
    headers: dict[str, str],
    errors: dict[str, list[str]],
) -> None:
    response = refused(stream_server.url, params=params, headers={**bearer(owner), **headers})

    assert response.status_code == 400
    assert response.json() == errors


def test_without_credentials_the_answer_is_a_json_401(stream_server: StreamServer) -> None:
    response = refused(stream_server.url)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_bad_bearer_token_is_a_401(stream_server: StreamServer) -> None:
    response = refused(stream_server.url, headers={"Authorization": "Bearer not-a-token"})

    assert response.status_code == 401
    assert "detail" in response.json()


def test_a_personal_api_token_opens_the_stream(stream_server: StreamServer, owner: User) -> None:
    _, secret = api_token_create(user=owner, name="chatbot", scopes="read")

    with open_stream(stream_server, headers={"Authorization": f"Bearer {secret}"}) as stream:
        event = emit_test_event(owner)
        (message,) = stream.events(1)

    assert message.fields["id"] == str(event.sequence)


def test_the_web_apps_session_cookie_opens_the_stream(
    stream_server: StreamServer, owner: User
) -> None:
    browser = Client()
    browser.force_login(owner)
    cookie = browser.cookies["sessionid"].value

    with open_stream(stream_server, headers={"Cookie": f"sessionid={cookie}"}) as stream:
        event = emit_test_event(owner)
        (message,) = stream.events(1)

    assert message.fields["id"] == str(event.sequence)


def test_a_stale_session_cookie_is_a_401(stream_server: StreamServer) -> None:
    response = refused(stream_server.url, headers={"Cookie": "sessionid=no-such-session"})

    assert response.status_code == 401


def test_a_user_over_the_per_user_cap_gets_a_429_and_others_still_connect(
    stream_server: StreamServer, owner: User, outsider: User, settings: Any
) -> None:
    settings.EVENT_STREAM_MAX_PER_USER = 2

    with (
        open_stream(stream_server, headers=bearer(owner)),
        open_stream(stream_server, headers=bearer(owner)),
    ):
        over = refused(stream_server.url, headers=bearer(owner))
        with open_stream(stream_server, headers=bearer(outsider)) as other:
            other_status = other.response.status_code

    assert over.status_code == 429
    assert over.json() == {"detail": "Too many open event streams for this user (at most 2)."}
    assert other_status == 200


def test_the_server_wide_cap_answers_503(
    stream_server: StreamServer, owner: User, outsider: User, settings: Any
) -> None:
    settings.EVENT_STREAM_MAX = 1

    with open_stream(stream_server, headers=bearer(owner)):
        response = refused(stream_server.url, headers=bearer(outsider))

    assert response.status_code == 503
    assert "retry-after" in response.headers


def test_a_closed_stream_frees_its_place(
    stream_server: StreamServer, owner: User, settings: Any
) -> None:
    settings.EVENT_STREAM_MAX_PER_USER = 1
    with open_stream(stream_server, headers=bearer(owner)) as stream:
        stream.next_message()  # the `retry:` line: the stream is open

    wait_until(lambda: stream_server.app.hub.open_streams == 0)
    with open_stream(stream_server, headers=bearer(owner)) as again:
        assert again.response.status_code == 200


def test_an_idle_stream_gets_a_keepalive_comment_each_heartbeat(
    stream_server: StreamServer, owner: User, settings: Any
) -> None:
    settings.EVENT_STREAM_HEARTBEAT_SECONDS = 0.2

    with open_stream(stream_server, headers=bearer(owner)) as stream:
        retry = stream.next_message()
        started = time.monotonic()
        beats = [stream.next_message(), stream.next_message()]
        elapsed = time.monotonic() - started

    assert retry.fields == {"retry": "2000"}
    assert [beat.comments for beat in beats] == [["keepalive"], ["keepalive"]]
    assert 0.3 < elapsed < 2.0


def test_events_of_several_users_reach_each_users_streams(
    stream_server: StreamServer, owner: User
) -> None:
    others = [make_user(f"user{n}") for n in range(3)]
    with (
        open_stream(stream_server, headers=bearer(owner)) as mine,
        open_stream(stream_server, headers=bearer(owner)) as my_phone,
        open_stream(stream_server, headers=bearer(others[0])) as theirs,
    ):
        for user in [owner, *others]:
            emit_test_event(user)
        got = [stream.events(1)[0].fields["id"] for stream in (mine, my_phone, theirs)]

    assert got == [
        str(sequences(owner)[0]),
        str(sequences(owner)[0]),
        str(sequences(others[0])[0]),
    ]


def test_an_event_committed_while_the_listener_reconnects_still_arrives(
    stream_server: StreamServer, owner: User
) -> None:
    with open_stream(stream_server, headers=bearer(owner)) as stream:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [LISTENER_APPLICATION_NAME],
            )
        wait_until(lambda: not stream_server.app.hub.listening)
        event = emit_test_event(owner)  # its notification reaches no one
        (message,) = stream.events(1)

    assert message.fields["id"] == str(event.sequence)


def test_a_batch_written_in_one_transaction_wakes_each_of_its_users_streams(
    stream_server: StreamServer, owner: User, outsider: User, settings: Any
) -> None:
    settings.EVENT_STREAM_HEARTBEAT_SECONDS = 0.2
    with (
        open_stream(stream_server, headers=bearer(owner)) as mine,
        open_stream(stream_server, headers=bearer(outsider)) as theirs,
    ):
        for stream in (mine, theirs):
            stream.next_message()  # retry:
            assert stream.next_message().comments == ["keepalive"]  # read up, waiting
        with transaction.atomic():
            emit_many(
                [
                    Event(type=TEST_TYPE, topic=TEST_TOPIC, subject="t", data={}, user_id=user.pk)
                    for user in (owner, outsider, owner)
                ]
            )
        got = {"mine": mine.events(2), "theirs": theirs.events(1)}

    assert [m.fields["id"] for m in got["mine"]] == [str(s) for s in sequences(owner)]
    assert [m.fields["id"] for m in got["theirs"]] == [str(s) for s in sequences(outsider)]


def test_the_per_user_cap_holds_across_processes_and_frees_with_a_closed_stream(
    stream_server: StreamServer, another_process: StreamServer, owner: User, settings: Any
) -> None:
    settings.EVENT_STREAM_MAX_PER_USER = 2
    with open_stream(stream_server, headers=bearer(owner)):
        with open_stream(another_process, headers=bearer(owner)):
            over_here = refused(stream_server.url, headers=bearer(owner))
            over_there = refused(another_process.url, headers=bearer(owner))
        wait_until(lambda: another_process.app.hub.open_streams == 0)
        with open_stream(another_process, headers=bearer(owner)) as again:
            again_status = again.response.status_code

    assert (over_here.status_code, over_there.status_code) == (429, 429)
    assert again_status == 200


def test_a_stream_ends_soon_after_its_session_logs_out(
    stream_server: StreamServer, owner: User, settings: Any
) -> None:
    settings.EVENT_STREAM_HEARTBEAT_SECONDS = 0.1
    settings.EVENT_STREAM_REAUTH_SECONDS = 0.3
    browser = Client()
    browser.force_login(owner)
    cookie = browser.cookies["sessionid"].value

    with open_stream(stream_server, headers={"Cookie": f"sessionid={cookie}"}) as stream:
        stream.next_message()  # retry:
        browser.logout()
        deadline = time.monotonic() + 5
        with pytest.raises(EOFError):  # the server ended the stream
            while time.monotonic() < deadline:
                stream.next_message()

    assert refused(stream_server.url, headers={"Cookie": f"sessionid={cookie}"}).status_code == 401


def test_only_get_is_allowed(stream_server: StreamServer, owner: User) -> None:
    response = httpx.post(stream_server.url, headers=bearer(owner), timeout=READ_TIMEOUT)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json() == {"detail": 'Method "POST" not allowed.'}
