"""`manage.py run_recurrence_worker`: the Dapr app (app-id `recurrence`).

Serves the gRPC app callback daprd calls: the task-operations and task-modifications
subscriptions that create the next instance when one is completed and keep each series' job
scheduled, and the `series-` jobs that materialise instances as they come due. SIGTERM
finishes the item in hand, then exits.
"""

from __future__ import annotations

from recurrence_app.handlers import APP_ID
from webapp.events.worker_command import WorkerCommand


class Command(WorkerCommand):
    help = "Run the recurrence worker: series instances and series jobs behind Dapr."
    app_id = APP_ID
