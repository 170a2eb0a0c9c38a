from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from webapp import metrics
from webapp.api import fallback

api_v1 = [
    path("", include("accounts_app.urls")),
    path("", include("planning.urls")),
    path("", include("notifications_app.urls")),
    path("", include("chatbot_app.urls")),
    path("", include("webapp.events.urls")),
]

# /healthz and /readyz are no routes: webapp.probes answers them ahead of the Host check.
urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("app/", include("dashboard_app.urls")),
]

# Django, not DRF, answers a path no route matches, a SuspiciousOperation (a body over
# DATA_UPLOAD_MAX_MEMORY_SIZE) and an uncaught exception; these keep `/api/` answers JSON.
handler400 = fallback.bad_request
handler403 = fallback.permission_denied
handler404 = fallback.not_found
handler500 = fallback.server_error
