"""`manage.py run_notifications_worker`: the Dapr app (app-id `notifications`).

Serves the gRPC app callback daprd calls: subscriptions on task-operations and
task-modifications that schedule and cancel reminder jobs, and the `reminder-` jobs that fire
deliveries. SIGTERM finishes the item in hand, then exits.
"""

from __future__ import annotations

from notifications_app.handlers import APP_ID
from webapp.events.worker_command import WorkerCommand


class Command(WorkerCommand):
    help = "Run the notifications worker: reminder scheduling and delivery behind Dapr."
    app_id = APP_ID
