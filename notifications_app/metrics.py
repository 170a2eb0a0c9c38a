"""Prometheus metrics of reminders and deliveries (served by /metrics of the web and workers)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REMINDERS_FIRED = Counter(
    "todo_reminders_fired_total", "Reminders whose job fired and claimed them.", ["outcome"]
)
FIRE_LAG = Histogram(
    "todo_reminder_fire_lag_seconds",
    "When a reminder fired minus when it was due.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
DELIVERIES = Counter(
    "todo_notification_deliveries_total",
    "Notification deliveries by channel and final status.",
    ["channel", "status"],
)
DELIVERY_ATTEMPTS = Counter(
    "todo_notification_delivery_attempts_total",
    "Delivery attempts by channel and result (sent, skipped, error).",
    ["channel", "result"],
)
