"""The one settings module: every value comes from the environment through typed helpers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_choice, env_float, env_int, env_list, env_str
from webapp.logging_setup import logging_config
from webapp.secrets import get_secret

# Lets typed generics such as ModelAdmin[Task] and ModelForm[Task] be subscripted at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = get_secret("DJANGO_SECRET_KEY") or ""
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Unset, it is the address `make run` listens on, so reminder links follow PORT.
PUBLIC_BASE_URL = env_str(
    "PUBLIC_BASE_URL", f"http://127.0.0.1:{env_int('PORT', 8000, minimum=1)}"
).rstrip("/")

# --- Transport security ------------------------------------------------------------------------
# Secure by default; only the local shapes (DEBUG, or the embedded `make run` on plain http at
# 127.0.0.1) default to cookies a browser sends over http. TLS ends at the ingress: uvicorn
# takes the scheme from X-Forwarded-Proto for the proxies in FORWARDED_ALLOW_IPS, so
# request.is_secure() needs no SECURE_PROXY_SSL_HEADER (which would trust any client's header).
_LOCAL_HTTP = DEBUG or env_bool("TODO_EMBEDDED", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not _LOCAL_HTTP)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not _LOCAL_HTTP)
# Browsers heed HSTS only from https responses, so it is harmless on the http port-forward.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if _LOCAL_HTTP else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Asking browsers to preload the domain is its owner's commitment, never a default.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Off by default: the ingress redirects http to https, and probes, Prometheus and a
# port-forward reach the pods over plain http.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# `check --deploy` then warns about what is a decision above, not an oversight.
SILENCED_SYSTEM_CHECKS = [
    *([] if SECURE_SSL_REDIRECT else ["security.W008"]),
    *([] if SECURE_HSTS_PRELOAD else ["security.W021"]),
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "webapp",
    "webapp.events",
    "webapp.ratelimit",
    "axes",
    "accounts_app",
    "tasks_app",
    "recurrence_app",
    "notifications_app",
    "chatbot_app",
    "dashboard_app",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "webapp.logging_setup.RequestLogMiddleware",
    # Before anything reads the Host (these two above do not): the kubelet and daprd call the
    # pod by its address. Probes still get a request id and an access line.
    "webapp.probes.ClusterProbeMiddleware",
    # After the request log (which starts each request's log context): W3C trace context.
    "webapp.tracing.TraceContextMiddleware",
    "webapp.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: turns a locked-out session login into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


# --- Serving and the database ------------------------------------------------------------------
# The web server (`manage.py web`, and `manage.py serve` for `make run`): uvicorn with
# WEB_CONCURRENCY processes, each running Django as a WSGI app on a fixed pool of WEB_THREADS
# threads (see webapp/asgi.py), so no request creates a thread or hops between sync and async.
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", 2, minimum=1)
WEB_THREADS = env_int("WEB_THREADS", 4, minimum=1)
# Whether a web process starts the event runtime (relay, and under `local` the subscribers and
# timer). `manage.py serve` runs the runtime in its own process and turns this off for its web
# workers, so events never take the request threads' CPU or connections.
WEB_START_EVENT_RUNTIME = env_bool("WEB_START_EVENT_RUNTIME", True)
# Where Prometheus scrapes /metrics: a port of its own that only the cluster reaches (the
# chart sets 9100; the ingress routes the app port only, which then answers /metrics 404).
# 0 serves /metrics on the app port, as `make run` does on 127.0.0.1.
METRICS_PORT = env_int("METRICS_PORT", 0, minimum=0)
# Spans (webapp/tracing.py): off unless OTEL_ENABLED, so `make run` and the tests export and
# pay for nothing. The trace context itself always flows from a request into its events.
OTEL_ENABLED = env_bool("OTEL_ENABLED", False)
# One service per process kind: todo-web, todo-recurrence... (the chart sets the name).
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", env_str("DATABASE_APPLICATION_NAME", "todo"))
OTEL_EXPORTER_ZIPKIN_ENDPOINT = env_str(
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://localhost:9411/api/v2/spans"
)
OTEL_SAMPLING_RATE = env_float("OTEL_TRACES_SAMPLER_ARG", 1.0)
# The event stream (GET /api/v1/events/stream/, webapp/events/stream.py): open streams allowed
# per user (across all web processes) and in all (in each web process); seconds of silence
# before a keepalive comment; threads that authenticate streams and read the feed for them.
EVENT_STREAM_MAX_PER_USER = env_int("EVENT_STREAM_MAX_PER_USER", 10, minimum=1)
EVENT_STREAM_MAX = env_int("EVENT_STREAM_MAX", 1000, minimum=1)
EVENT_STREAM_HEARTBEAT_SECONDS = env_float("EVENT_STREAM_HEARTBEAT_SECONDS", 15.0)
EVENT_STREAM_READ_THREADS = env_int("EVENT_STREAM_READ_THREADS", 2, minimum=1)
# How often an open stream checks its credential again (an expired token, a logout, a
# deactivated user end it within this long).
EVENT_STREAM_REAUTH_SECONDS = env_float("EVENT_STREAM_REAUTH_SECONDS", 300.0)
if min(EVENT_STREAM_HEARTBEAT_SECONDS, EVENT_STREAM_REAUTH_SECONDS) <= 0:
    raise ImproperlyConfigured(
        "EVENT_STREAM_HEARTBEAT_SECONDS and EVENT_STREAM_REAUTH_SECONDS must be above 0"
    )
# Web processes borrow connections from a psycopg pool (webapp/asgi.py turns it on); worker
# processes keep one persistent connection per fixed thread instead.
DATABASE_POOL = env_bool("DATABASE_POOL", False)
# MCP tool calls run on their own fixed pool of threads (chatbot_app/mcp_server.py), each
# holding a connection only while a call runs, and each call is cancelled after the timeout.
MCP_TOOL_THREADS = env_int("MCP_TOOL_THREADS", WEB_THREADS, minimum=1)
MCP_TOOL_TIMEOUT_SECONDS = env_float("MCP_TOOL_TIMEOUT_SECONDS", 30.0)
# The most connections one pooled process holds: a connection per request thread and per MCP
# tool thread, plus one for the relay thread that a web process may run.
DATABASE_POOL_MAX_SIZE = env_int(
    "DATABASE_POOL_MAX_SIZE", WEB_THREADS + MCP_TOOL_THREADS + 1, minimum=1
)
DATABASE_POOL_MIN_SIZE = min(
    env_int("DATABASE_POOL_MIN_SIZE", 1, minimum=0), DATABASE_POOL_MAX_SIZE
)
# How long a request waits for a pooled connection before it is answered 503 with Retry-After.
DATABASE_POOL_TIMEOUT = env_float("DATABASE_POOL_TIMEOUT", 5.0)
# Shown in pg_stat_activity, so an operator can count each kind of process's connections.
DATABASE_APPLICATION_NAME = env_str("DATABASE_APPLICATION_NAME", "todo")


def database_from_url(url: str, *, pool: Mapping[str, object] | None = None) -> dict[str, object]:
    """Django's DATABASES entry for `url`; with `pool`, connections come from a psycopg pool."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must be a postgresql:// URL, got {parts.scheme!r}"
        )
    query: dict[str, object] = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = str(query.pop("host", parts.hostname or ""))
    password = unquote(parts.password or "") or get_secret(
        "DATABASE_PASSWORD", required=False, generate=False
    )
    query.setdefault("application_name", DATABASE_APPLICATION_NAME)
    if pool is not None:
        query["pool"] = dict(pool)
    return {
        # Django's own backend, not django_prometheus's: its per-query counters and timers
        # cost about a tenth of the event runtime's CPU, and PostgreSQL's own statistics
        # (pg_stat_statements) say more about queries.
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": password or "",
        "HOST": host,
        "PORT": str(parts.port or ""),
        # A pool hands connections back at the end of each request; Django refuses both at once.
        "CONN_MAX_AGE": 0 if pool else env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
        # With a pool: an empty query checks each connection as it is lent, so one a restarted
        # database broke is replaced rather than failing a request. Without (the workers' and
        # the runtime's fixed threads) a round trip per loop would be wasted: a loop retries
        # after an error, and Django drops the connection the error marked unusable.
        "CONN_HEALTH_CHECKS": pool is not None,
        "OPTIONS": query,
    }


_database_url = env_str("DATABASE_URL", "")
if not _database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Start through manage.py (which starts the embedded "
        "PostgreSQL) or point DATABASE_URL at a PostgreSQL server."
    )
DATABASES = {
    "default": database_from_url(
        _database_url,
        pool={
            "min_size": DATABASE_POOL_MIN_SIZE,
            "max_size": DATABASE_POOL_MAX_SIZE,
            "timeout": DATABASE_POOL_TIMEOUT,
        }
        if DATABASE_POOL
        else None,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The web app for task owners (dashboard_app) logs in with a Django session.
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:tasks"
LOGOUT_REDIRECT_URL = "dashboard:login"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "todo",
    }
}

# --- Login lockout (django-axes; webapp/ratelimit/lockout.py) ------------------------------------
# Every login that carries a request (admin, web app, token endpoint) is refused, right password
# or not, after LOGIN_FAILURE_LIMIT failures of one username from one client address, until
# LOGIN_LOCKOUT_MINUTES after the last failure. Counted in PostgreSQL, so shared by replicas.
AUTHENTICATION_BACKENDS = [
    "webapp.ratelimit.lockout.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# The pair, not the username alone: nobody can lock staff out by failing in their name.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Failures during a lockout neither count nor move its end, so the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "webapp.ratelimit.lockout.client_address"
AXES_USERNAME_CALLABLE = "webapp.ratelimit.lockout.client_username"
AXES_LOCKOUT_CALLABLE = "webapp.ratelimit.lockout.lockout_response"
# Successful logins are not logged row by row (the table would only grow); users keep
# last_login, and failures stay visible in the admin under Axes while they count.
AXES_DISABLE_ACCESS_LOG = True

# --- API ---------------------------------------------------------------------------------------
API_THROTTLE_USER = env_str("API_THROTTLE_USER", "100/minute")
API_THROTTLE_AUTH = env_str("API_THROTTLE_AUTH", "10/minute")
# Proxies in front of the app that append to X-Forwarded-For; with 0 the client address is the
# socket peer, so a client cannot dodge the per-address limit by sending its own header.
API_TRUSTED_PROXIES = env_int("API_TRUSTED_PROXIES", 0, minimum=0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: it settles `Bearer todo_pat_...` and leaves every other bearer to simplejwt.
        "accounts_app.authentication.ApiTokenAuthentication",
        "accounts_app.authentication.CachedUserJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["webapp.api.parsers.DepthLimitedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "webapp.api.pagination.PageNumberPagination",
    "DEFAULT_SCHEMA_CLASS": "webapp.api.schema.ContractAutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["webapp.api.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_USER, "auth": API_THROTTLE_AUTH},
    "NUM_PROXIES": API_TRUSTED_PROXIES,
    "EXCEPTION_HANDLER": "webapp.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 60, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 14, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": SECRET_KEY,
}

# Seconds a process may reuse a JWT user's row without reading it again (a deactivation takes
# this long to reach the other processes); 0 reads it on every request.
JWT_USER_CACHE_SECONDS = env_int("JWT_USER_CACHE_SECONDS", 5, minimum=0)

SPECTACULAR_SETTINGS = {
    "TITLE": "Todo platform API",
    "DESCRIPTION": "Tasks, recurring series, reminders and the change feed.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from drf-spectacular-sidecar under STATIC_URL, not a CDN, so
    # /api/docs/ works offline and shows the version pinned in pyproject.toml.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for a choice set used by several fields (else spectacular warns and guesses).
    "ENUM_NAME_OVERRIDES": {"NotificationChannelEnum": "notifications_app.models.Channel"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "webapp.api.schema.add_common_responses",
    ],
}

# The text search configuration; it must match the trigger in tasks_app migration 0002.
SEARCH_CONFIG = "english"

# --- Events and jobs ---------------------------------------------------------------------------
EVENT_RUNTIME = env_choice("EVENT_RUNTIME", "local", ["local", "dapr", "inline"])
EVENT_SOURCE = env_str("EVENT_SOURCE", "/todo/webapp")
EVENT_RETRY_ATTEMPTS = env_int("EVENT_RETRY_ATTEMPTS", 3, minimum=0)
EVENT_RETRY_DELAY_SECONDS = env_float("EVENT_RETRY_DELAY_SECONDS", 5.0)
# How long the local relay waits after a wake-up for more commits to join the pass: a little
# latency for much less work per event under load.
EVENT_RELAY_GATHER_SECONDS = env_float("EVENT_RELAY_GATHER_SECONDS", 0.01)
# Delivery threads of the local runtime; one user's events always go to the same thread.
EVENT_LOCAL_WORKERS = env_int("EVENT_LOCAL_WORKERS", 4, minimum=1)
DAPR_PUBSUB_NAME = env_str("DAPR_PUBSUB_NAME", "pubsub")
DAPR_STATE_STORE = env_str("DAPR_STATE_STORE", "statestore")
DAPR_SECRET_STORE = env_str("DAPR_SECRET_STORE", "secretstore")
DAPR_TIMEOUT_SECONDS = env_float("DAPR_TIMEOUT_SECONDS", 5.0)

# --- Reminders and notifications ---------------------------------------------------------------
# No SMTP_HOST: emails go to the log and the user's feed says email is not configured.
SMTP_HOST = env_str("SMTP_HOST", "")
SMTP_PORT = env_int("SMTP_PORT", 587, minimum=1)
SMTP_USERNAME = env_str("SMTP_USERNAME", "")
SMTP_PASSWORD = get_secret("SMTP_PASSWORD", required=False, generate=False) or ""
SMTP_TLS = env_choice("SMTP_TLS", "starttls", ["none", "starttls", "tls"])
SMTP_FROM = env_str("SMTP_FROM", "Todo <reminders@localhost>")
SMTP_TIMEOUT_SECONDS = env_float("SMTP_TIMEOUT_SECONDS", 10.0)
# A service-account JSON; without it the push channel reports "not configured".
FIREBASE_CREDENTIALS = get_secret("FIREBASE_CREDENTIALS", required=False, generate=False) or ""
# Only for an FCM emulator or proxy: replaces https://fcm.googleapis.com/v1/projects/<p>/...
FIREBASE_FCM_URL = env_str("FIREBASE_FCM_URL", "")
# Seconds to wait before each retry of a failed channel (3 retries, then the channel fails).
try:
    NOTIFICATION_RETRY_DELAYS = [
        float(value) for value in env_list("NOTIFICATION_RETRY_DELAYS", ["2", "10", "30"])
    ]
except ValueError as exc:
    raise ImproperlyConfigured("NOTIFICATION_RETRY_DELAYS must be a comma list of seconds") from exc
# A reminder whose fire time passed longer ago than this when it is scheduled is skipped.
NOTIFICATION_LATE_GRACE_SECONDS = env_int("NOTIFICATION_LATE_GRACE_SECONDS", 60, minimum=0)
# Threads that send fired reminders' email and push, so a slow or unreachable SMTP server never
# holds up firing (the local timer, the worker's job calls); 0 sends in the firing thread.
NOTIFICATION_DELIVERY_THREADS = env_int("NOTIFICATION_DELIVERY_THREADS", 4, minimum=0)
# How long a sender holds pending deliveries before another may take them over; longer than
# one round of a batch (25 sends, each at most SMTP_TIMEOUT_SECONDS per step).
NOTIFICATION_LEASE_SECONDS = env_int("NOTIFICATION_LEASE_SECONDS", 600, minimum=30)

LOGGING = logging_config(level=env_str("LOG_LEVEL", "INFO"), json=env_bool("LOG_JSON", not DEBUG))
