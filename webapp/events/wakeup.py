"""Wake the local runtime's relay and timer from the other processes of this machine.

`manage.py serve` runs the event runtime in one process and the web app in worker processes,
so the "wake up" that follows a commit cannot be a thread event: a worker sends a one-byte
datagram to the runtime's socket instead. The socket lives in Linux's abstract namespace
(nothing on disk to clean up), named after the database, so only a runtime on the same
database hears it. Sending costs a system call and never blocks or fails the caller: a lost
wake-up delays work until the relay's or the timer's tick, it never loses it.

(A PostgreSQL NOTIFY from a trigger would do the same across machines, but every notifying
commit takes a database-wide lock: measured, it cut pgbench's rate for a task create from
5,200 to 3,500 transactions a second at 8 clients.)
"""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from collections.abc import Callable, Mapping

from django.conf import settings

logger = logging.getLogger(__name__)

OUTBOX = b"o"
JOBS = b"j"
# How often the receiver looks at its stop flag while no datagram arrives.
POLL_SECONDS = 0.5

_sender: socket.socket | None = None
_sender_lock = threading.Lock()


def wake_address() -> str:
    """The abstract socket name of the runtime serving this process's database."""
    database = settings.DATABASES["default"]
    key = f"{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return "\0todo-events-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def send_wakeup(message: bytes) -> None:
    """Tell the runtime process that `message` (OUTBOX or JOBS) has new committed work."""
    global _sender
    try:
        with _sender_lock:
            if _sender is None:
                _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                _sender.setblocking(False)
            _sender.sendto(message, wake_address())
    except OSError:
        # No runtime listening (a command run alone), or its queue is full (it is awake).
        pass


def receive_wakeups(
    wakers: Mapping[bytes, Callable[[], None]], *, stopping: threading.Event
) -> None:
    """Call `wakers[message]()` for each datagram until `stopping` is set."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind(wake_address())
        except OSError as exc:
            logger.warning(
                "another event runtime on this machine serves the same database; "
                "this one relies on its ticks",
                extra={"error": repr(exc)},
            )
            return
        sock.settimeout(POLL_SECONDS)
        while not stopping.is_set():
            try:
                message = sock.recv(16)
            except TimeoutError:
                continue
            waker = wakers.get(message)
            if waker is not None:
                waker()
