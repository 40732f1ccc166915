# syntax=docker/dockerfile:1.7
# The operator's tools (gandan-credentials, gandan-broker-access). Build from the repository root:
#   docker build -f deploy/docker/tools.Dockerfile -t gandan-system .
# gandan-system: it imports every service to know the system (credentials are kept in each service's
# database). Not a server: run one command, e.g. `gandan-credentials list --service intake`.

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
    uv sync --frozen --no-dev --no-install-workspace --package gandan-system
COPY shared/src shared/src
COPY shared/system/src shared/system/src
COPY services/intake/src services/intake/src
COPY services/dispatch/src services/dispatch/src
COPY services/notify/src services/notify/src
COPY services/audit/src services/audit/src
# Installed, not linked to /src: the runtime stage takes /app/.venv alone.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package gandan-system

FROM python:${PYTHON}
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gandan
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
USER 10001
CMD ["gandan-credentials", "--help"]
