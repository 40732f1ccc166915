# syntax=docker/dockerfile:1.7
# The notify service. Build from the repository root:
#   docker build -f deploy/docker/notify.Dockerfile -t gandan-notify .
# Only gandan-notify and what it depends on (gandan-shared, the locked third-party packages) go in.

ARG PYTHON=3.11.7-slim-bookworm

FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM python:${PYTHON} AS build
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The lock names every workspace member, so uv reads each one's pyproject.toml; no sources yet,
# so this layer (the third-party packages) is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY shared/system/pyproject.toml shared/system/
COPY shared/testing/pyproject.toml shared/testing/
COPY services/intake/pyproject.toml services/intake/
COPY services/dispatch/pyproject.toml services/dispatch/
COPY services/notify/pyproject.toml services/notify/
COPY services/audit/pyproject.toml services/audit/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package gandan-notify
COPY shared/src shared/src
COPY services/notify/src services/notify/src
# Installed, not linked to /src: the runtime stage takes /app/.venv alone.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package gandan-notify

FROM python:${PYTHON}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gandan
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 NOTIFY_HTTP_HOST=0.0.0.0 NOTIFY_HTTP_PORT=8000
USER 10001
EXPOSE 8000
# Ready, not only up: the database and broker answer and the consumers are attached (/health/ready).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4)"]
# SIGTERM stops it cleanly: consumers cancelled, unacked messages returned, workers stopped.
STOPSIGNAL SIGTERM
CMD ["gandan-notify"]
