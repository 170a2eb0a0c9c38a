"""Prometheus metrics of the recurrence engine (served by /metrics of the web and the worker)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

INSTANCES_GENERATED = Counter(
    "todo_recurrence_instances_generated_total",
    "Series instances created, by what triggered them (job, completion, edit).",
    ["trigger"],
)
GENERATION_LATENCY = Histogram(
    "todo_recurrence_generation_latency_seconds",
    "When an instance was created minus when it was due to appear (occurrence - lead time).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
JOB_LAG = Histogram(
    "todo_recurrence_job_lag_seconds",
    "When a series job fired minus when it was scheduled to fire.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
