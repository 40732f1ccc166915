# The two set-up commands (see README): `make run` and `make test`.
# uv comes from PyPI when the machine does not have it; it never downloads a Python.
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test lint typecheck imports uv sync asyncapi bench bench-routing deploy-check manifests

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv \
		|| python3 -m pip install --quiet --user --break-system-packages uv

sync: uv
	$(UV) sync --frozen

run: sync
	$(UV) run --frozen gandan-up

test: sync
	$(UV) run --frozen pytest

lint: sync
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

# mypy, strict with the pydantic plugin, over every package and its tests (pyproject.toml [tool.mypy]).
typecheck: sync
	$(UV) run --frozen mypy

# Each package synced alone into a throwaway environment and all its modules imported:
# an import its package does not declare fails here.
imports: uv
	UV="$(UV)" python3 .ci/imports.py

# Regenerate the public contract: the AsyncAPI document of each service.
asyncapi: sync
	$(UV) run --frozen python -m gandan.system.contract docs/asyncapi

# What a journey costs on the real stack: README "Performance" (under 10 minutes; a local RabbitMQ
# is needed, the database is started for the run). `make bench BENCH_ARGS=--smoke`: about half a minute.
bench: sync
	$(UV) run --frozen python -m gandan.system.bench $(BENCH_ARGS)

# The route solver on the Solomon VRPTW instances against the best known solutions: README "Route planning"
# (C1+R1+RC1 at 10 s each: about 5 minutes). `make bench-routing BENCH_ROUTING_ARGS="--classes c1 --seconds 2"`.
bench-routing: sync
	$(UV) run --frozen python -m gandan.dispatch.bench.routing $(BENCH_ROUTING_ARGS)

# deploy/ checked offline (deploy/check.py): kustomize renders each overlay, the resources validate
# against the Kubernetes schemas and the operators' required fields, compose.yaml against the compose
# spec, each Dockerfile copies only what exists. Needs kubectl (with kustomize), not a cluster.
deploy-check: sync
	$(UV) run --frozen python deploy/check.py

# Regenerate the Kubernetes manifests derived from the system's description (deploy-check fails if stale).
manifests: sync
	$(UV) run --frozen python -m gandan.system.manifests deploy/k8s/base
