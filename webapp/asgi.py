"""ASGI entry point of the web process: Django on a fixed thread pool, the MCP tools at /mcp.

Django runs as a WSGI app behind webapp.wsgi_bridge: each request is handed once to one of
WEB_THREADS long-lived threads, runs the whole synchronous middleware chain and view there,
and its answer is handed back once. Django's own ASGI handler would instead start a thread per
request and hop between the event loop and threads around every sync-only middleware; under
load that hop dominated and left a connection behind per dead thread. The event loop keeps
what is truly asynchronous: the MCP streamable-HTTP app, the event stream
(webapp/events/stream.py), and lifespan.
"""

from __future__ import annotations

import gc
import os

# A web process serves many requests on a few threads: lend connections from a bounded pool
# (DATABASE_POOL_MAX_SIZE) instead of keeping one per thread. Must be set before settings load.
os.environ.setdefault("DATABASE_POOL", "true")
# So pg_stat_activity tells the web workers' connections from the others.
os.environ.setdefault("DATABASE_APPLICATION_NAME", "todo-web")

from django.conf import settings

from webapp.wsgi import application as wsgi_application
from webapp.wsgi_bridge import WsgiBridge

django_application = WsgiBridge(
    wsgi_application,  # type: ignore[arg-type]
    threads=settings.WEB_THREADS,
    max_body=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
)

# Imported once Django is set up: the tools use the ORM and the REST serializers.
from chatbot_app.mcp_server import build_asgi_application  # noqa: E402
from webapp.events.runtime import get_runtime  # noqa: E402
from webapp.events.stream import EventStreamApp  # noqa: E402

# The event stream is served here, on the event loop, ahead of Django's request threads.
application = EventStreamApp(build_asgi_application(django_application))

# A web process publishes its own outbox rows (the relay thread) unless the process that
# started it runs the event runtime itself, as `manage.py serve` does. start() is idempotent.
if settings.WEB_START_EVENT_RUNTIME:
    get_runtime().start()

# Everything loaded so far (Django, the apps, their modules) lives as long as the process:
# kept out of the collector's full passes, which otherwise walk it all and show as the slowest
# requests' latency. Collections of young objects are made rarer for the same reason: a list
# request allocates tens of thousands of short-lived objects.
GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)
gc.freeze()
gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
