"""Tool calls run concurrently, each bounded: one user's slow call never holds up another's.

A call is made slow for real: it waits on a task's row lock held by another connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from django.db import connection, connections, transaction
from mcp import Client
from mcp_types import CallToolResult

from chatbot_app.principal import local_credential
from tasks_app.models import Status, Task
from tests.chatbot_app.conftest import call_tool, mcp_server, ok, tool_error
from tests.conftest import wait_until

# Only a guard against a hang: each wait below ends as soon as its condition holds.
HANG = 20


@contextmanager
def row_locked(task_id: str) -> Iterator[None]:
    """Hold the task's row lock (SELECT ... FOR UPDATE) in another thread until the block ends."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                Task.objects.select_for_update().get(pk=task_id)
                locked.set()
                release.wait(HANG)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(HANG), "the lock holder did not get the lock"
        yield
    finally:
        release.set()
        holder.join(HANG)


def lock_waiters() -> int:
    """Backends of this database waiting for a lock right now."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            row = cursor.fetchone()
            return int(row[0]) if row else 0
    finally:
        connection.close()


async def until_a_call_waits_on_the_lock() -> None:
    with anyio.fail_after(HANG):
        while await anyio.to_thread.run_sync(lock_waiters) == 0:
            await anyio.sleep(0.02)  # polling another process's state, not test logic


async def call_as(credential: str, name: str, arguments: dict[str, Any]) -> CallToolResult:
    """One call through its own SDK client session, as `credential`'s owner."""
    with local_credential(credential):
        async with Client(mcp_server(), mode="legacy") as client:
            return await client.call_tool(name, arguments)


def test_another_users_call_answers_while_a_slow_call_waits(
    owner_token: str, outsider_token: str
) -> None:
    # GIVEN a task of the owner whose row another connection holds locked
    locked = ok(call_tool(owner_token, "add_task", {"title": "Locked"}))
    theirs = ok(call_tool(outsider_token, "add_task", {"title": "Theirs"}))
    finished: list[str] = []
    results: dict[str, Any] = {}

    async def complete() -> None:
        results["complete"] = await call_as(owner_token, "complete_task", {"task_id": locked["id"]})
        finished.append("complete_task")

    async def scenario() -> None:
        async with anyio.create_task_group() as group:
            with row_locked(locked["id"]):
                # WHEN the owner's call is stuck on the lock and the outsider lists tasks
                group.start_soon(complete)
                await until_a_call_waits_on_the_lock()
                with anyio.fail_after(HANG):
                    results["list"] = await call_as(outsider_token, "list_tasks", {})
                finished.append("list_tasks")
                # THEN the outsider got the answer while the owner's call still waited

    anyio.run(scenario)

    assert finished == ["list_tasks", "complete_task"]
    assert [task["id"] for task in ok(results["list"])["results"]] == [theirs["id"]]
    assert ok(results["complete"])["status"] == "completed"


def test_a_call_past_the_timeout_is_cancelled_with_a_tool_error(
    owner_token: str, settings: Any
) -> None:
    settings.MCP_TOOL_TIMEOUT_SECONDS = 0.5
    task = ok(call_tool(owner_token, "add_task", {"title": "Locked"}))
    results: dict[str, Any] = {}

    async def scenario() -> None:
        with anyio.fail_after(HANG):
            results["complete"] = await call_as(
                owner_token, "complete_task", {"task_id": task["id"]}
            )

    with row_locked(task["id"]):
        anyio.run(scenario)
        # The waiting query was cancelled on the database, not left holding its thread.
        wait_until(lambda: lock_waiters() == 0, timeout=HANG)

    assert tool_error(results["complete"]) == {
        "detail": "The tool call took longer than 0.5 s and was cancelled."
    }
    # Its transaction rolled back, and the tool threads serve the next call.
    assert Task.objects.get(pk=task["id"]).status == Status.PENDING
    assert ok(call_tool(owner_token, "get_task", {"task_id": task["id"]}))["status"] == "pending"
