"""Answers the cluster's own callers before Django validates the Host header.

The kubelet probes a pod at its IP (`Host: 10.244.0.7:8000`), Prometheus scrapes it the same
way and daprd calls the app on `127.0.0.1:<app port>`. None of those names is, or should be,
in ALLOWED_HOSTS: Django would answer each 400 DisallowedHost, the startup probe would fail and
the rollout would roll back. This middleware comes before anything that reads the Host and
answers exactly these paths itself; every other path still goes through the strict host check.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from webapp import health


@require_GET
def dapr_subscribe(request: HttpRequest) -> JsonResponse:
    """daprd asks an HTTP app for its programmatic subscriptions: the web app-id has none."""
    return JsonResponse([], safe=False)


@require_GET
def dapr_config(request: HttpRequest) -> JsonResponse:
    """daprd asks an HTTP app for actor and entity settings: the web app-id uses none."""
    return JsonResponse({})


# Paths answered without a Host check. None of them reveals anything beyond up/ready.
HOST_EXEMPT_VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": health.healthz,
    "/readyz": health.readyz,
    "/dapr/subscribe": dapr_subscribe,
    "/dapr/config": dapr_config,
}


class ClusterProbeMiddleware:
    """Serves HOST_EXEMPT_VIEWS whatever the Host (after the request log, before the rest)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = HOST_EXEMPT_VIEWS.get(request.path_info)
        if view is None:
            return self.get_response(request)
        return view(request)
