# syntax=docker/dockerfile:1.7
# One image for every process: the web app (`manage.py web`), both workers and the migration Job.
# The final stage has no compiler and no pip cache, runs as UID 10001 and needs only /tmp to be
# writable, so pods can mount the root file system read-only.

FROM python:3.11.14-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# Build tools live only in this stage, for any dependency without a wheel.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p webapp && touch webapp/__init__.py \
    && pip install . \
    && pip uninstall --yes todo-platform
# .dockerignore lets in only the project's packages, manage.py and the packaging files.
COPY . ./
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv/lib/python3.11/site-packages
# Static files are collected at build time: the running container cannot write them. Run
# outside /src so the installed package is imported and STATIC_ROOT lands inside the venv
# (site-packages/var/static), which the final stage copies. Settings only need syntactically
# valid values here; nothing connects anywhere.
WORKDIR /
RUN TODO_EMBEDDED=true VAR_DIR=/tmp/build-var \
    DATABASE_URL=postgresql://build@localhost/unused \
    DJANGO_SETTINGS_MODULE=webapp.settings \
    python -m django collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-var

# Keep in step with the builder's base: the venv is only valid on the same Python.
FROM python:3.11.14-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="todo-platform" \
      org.opencontainers.image.description="Task platform: web API and event workers"
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /tmp --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root manage.py ./
# Everything the processes write goes under /tmp (an emptyDir in Kubernetes). The embedded
# PostgreSQL is for `make run` only: without DATABASE_URL the container refuses to start.
ENV PATH=/opt/venv/bin:$PATH \
    TODO_EMBEDDED_ALLOWED=false \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    XDG_RUNTIME_DIR=/tmp \
    VAR_DIR=/tmp/var \
    DJANGO_SETTINGS_MODULE=webapp.settings \
    LOG_JSON=true \
    METRICS_PORT=9100
USER 10001:10001
# 8000 the web app, 9100 its /metrics (for Prometheus only: the app port answers it 404),
# 50051 and 9090 a worker's gRPC app port and its health and metrics port.
EXPOSE 8000 9100 50051 9090
# Outside Kubernetes (which uses its own probes): healthy when the web port (8000) or a
# worker's health port (9090) answers /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request as u\nfor p in (8000, 9090):\n    try:\n        u.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=2)\n        sys.exit(0)\n    except OSError:\n        pass\nsys.exit(1)"]
# The web server (webapp/server.py): a supervising process and WEB_CONCURRENCY uvicorn workers
# (default 2), each running Django on WEB_THREADS threads (default 4) with a pool of at most
# DATABASE_POOL_MAX_SIZE connections; it listens on HOST:PORT (default 0.0.0.0:8000) and
# sends no Server header. As with `uvicorn --proxy-headers`, X-Forwarded-For/-Proto are
# honoured only from the addresses in FORWARDED_ALLOW_IPS (default: loopback); set it to the
# proxy's address, or "*" when only the proxy can reach the container.
CMD ["python", "manage.py", "web"]
