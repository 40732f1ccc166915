"""`make deploy-check`: what deploy/ holds is valid, checked offline (no cluster, no Docker engine).

- Kubernetes: each overlay rendered with `kubectl kustomize` (its Secrets from secrets.example/,
  since secrets/ is never committed); every built-in resource validated strictly against the
  Kubernetes schemas (PyPI kubernetes-validate); the operators' resources (RabbitMQ, Messaging
  Topology, MongoDB Community, KEDA), whose CRD schemas are not shipped here, checked for the
  fields their CRDs require; and every name a resource refers to (Secrets, ConfigMaps, the
  Deployment a ScaledObject scales, the pods a Service, PDB or NetworkPolicy selects, the User
  a Permission names) present. The generated base files must match their generator.
- Compose: compose.yaml, interpolated with .env.example, parsed by the compose-spec library
  (strict: an unknown key or a wrong type fails); every variable it uses is in .env.example;
  build contexts and Dockerfiles exist.
- Dockerfiles: one per service; every COPY source exists in the repository; the service's own
  package is the one synced and its command is one of its scripts.

Prints each problem and exits 1 if there is any.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from compose_spec import PyCompose

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = "1.33.0"  # the oldest minor version the manifests must suit
SERVICES = ("intake", "dispatch", "notify", "audit")

# What the operators' CRDs require (their OpenAPI `required`), as dotted paths; `a|b` is either.
CRD_REQUIRED: dict[tuple[str, str], list[str]] = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): [],
    ("rabbitmq.com/v1beta1", "Exchange"): ["spec.name", "spec.rabbitmqClusterReference"],
    ("rabbitmq.com/v1beta1", "Queue"): ["spec.name", "spec.rabbitmqClusterReference"],
    ("rabbitmq.com/v1beta1", "Binding"): ["spec.rabbitmqClusterReference"],
    ("rabbitmq.com/v1beta1", "User"): ["spec.rabbitmqClusterReference"],
    ("rabbitmq.com/v1beta1", "Permission"): [
        "spec.vhost",
        "spec.permissions",
        "spec.user|spec.userReference",
        "spec.rabbitmqClusterReference",
    ],
    ("rabbitmq.com/v1beta1", "TopicPermission"): [
        "spec.vhost",
        "spec.permissions.exchange",
        "spec.user|spec.userReference",
        "spec.rabbitmqClusterReference",
    ],
    ("mongodbcommunity.mongodb.com/v1", "MongoDBCommunity"): [
        "spec.members",
        "spec.type",
        "spec.version",
        "spec.security",
        "spec.users",
    ],
    ("keda.sh/v1alpha1", "ScaledObject"): ["spec.scaleTargetRef.name", "spec.triggers"],
    ("keda.sh/v1alpha1", "TriggerAuthentication"): [],
}
# Secrets the operators write: the MongoDB Community Operator's connection strings.
OPERATOR_SECRETS = re.compile(r"^gandan-mongodb-admin-gandan-[a-z]+$")


def _get(resource: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(resource, dict) or part not in resource:
            return None
        resource = resource[part]
    return resource


def _name(resource: dict[str, Any]) -> str:
    return f"{resource.get('kind')}/{_get(resource, 'metadata.name')}"


# Kubernetes


def render(overlay: Path) -> list[dict[str, Any]]:
    """The overlay as `kubectl kustomize` renders it, its Secrets taken from secrets.example/."""
    k8s = overlay.parent.parent
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "k8s"
        shutil.copytree(k8s, copy, ignore=shutil.ignore_patterns("secrets"))
        placed = copy / "overlays" / overlay.name
        shutil.copytree(placed / "secrets.example", placed / "secrets")
        if shutil.which("kubectl") is None:
            raise ValueError("kubectl kustomize: kubectl is not installed (it is on the project's machines)")
        done = subprocess.run(["kubectl", "kustomize", str(placed)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise ValueError(f"kubectl kustomize {overlay.name}: {done.stderr.strip()}")
    return [r for r in yaml.safe_load_all(done.stdout) if r]


def check_resources(resources: list[dict[str, Any]]) -> list[str]:
    problems = []
    for resource in resources:
        key = (resource.get("apiVersion", ""), resource.get("kind", ""))
        if key in CRD_REQUIRED:
            for path in CRD_REQUIRED[key]:
                if all(_get(resource, p) is None for p in path.split("|")):
                    problems.append(f"{_name(resource)}: {path} is required")
            continue
        try:
            kubernetes_validate.validate(resource, KUBERNETES, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{_name(resource)}: no schema for {key[0]} {key[1]}")
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.absolute_path)
            problems.append(f"{_name(resource)}: {path}: {error.message}")
    return problems + check_references(resources)


def _refs(value: Any, key: str) -> Iterator[Any]:
    """Every value under `key`, anywhere in a resource."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield v
            yield from _refs(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v, key)


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def check_references(resources: list[dict[str, Any]]) -> list[str]:
    names: dict[str, set[str]] = {}
    for resource in resources:
        names.setdefault(resource["kind"], set()).add(resource["metadata"]["name"])
    pods = [
        _get(r, "spec.template.metadata.labels") or {} for r in resources if r["kind"] in ("Deployment", "StatefulSet")
    ]
    problems = []
    for resource in resources:
        for ref in [
            *_refs(resource, "secretKeyRef"),
            *_refs(resource, "secretRef"),
            *_refs(resource, "secretTargetRef"),
        ]:
            for item in ref if isinstance(ref, list) else [ref]:
                name = item.get("name", "")
                if name not in names.get("Secret", set()) and not OPERATOR_SECRETS.match(name):
                    problems.append(f"{_name(resource)}: Secret {name} is not declared")
        for ref in [*_refs(resource, "configMapRef"), *_refs(resource, "configMapKeyRef")]:
            if ref.get("name") not in names.get("ConfigMap", set()):
                problems.append(f"{_name(resource)}: ConfigMap {ref.get('name')} is not declared")
        for ref in [*_refs(resource, "importCredentialsSecret"), *_refs(resource, "passwordSecretRef")]:
            if ref.get("name") not in names.get("Secret", set()):
                problems.append(f"{_name(resource)}: Secret {ref.get('name')} is not declared")
        for ref in _refs(resource, "userReference"):
            if ref.get("name") not in names.get("User", set()):
                problems.append(f"{_name(resource)}: User {ref.get('name')} is not declared")
        for ref in _refs(resource, "rabbitmqClusterReference"):
            if ref.get("name") not in names.get("RabbitmqCluster", set()):
                problems.append(f"{_name(resource)}: RabbitmqCluster {ref.get('name')} is not declared")
        for ref in _refs(resource, "authenticationRef"):
            if ref.get("name") not in names.get("TriggerAuthentication", set()):
                problems.append(f"{_name(resource)}: TriggerAuthentication {ref.get('name')} is not declared")
        kind = resource["kind"]
        if kind == "ScaledObject" and _get(resource, "spec.scaleTargetRef.name") not in names.get("Deployment", set()):
            problems.append(f"{_name(resource)}: scales a Deployment that is not declared")
        selector = {
            "Service": _get(resource, "spec.selector"),
            "PodDisruptionBudget": _get(resource, "spec.selector.matchLabels"),
        }.get(kind)
        if kind == "Deployment":
            if not _selects(
                _get(resource, "spec.selector.matchLabels") or {}, _get(resource, "spec.template.metadata.labels") or {}
            ):
                problems.append(f"{_name(resource)}: its selector does not select its own pods")
        elif selector is not None and not any(_selects(selector, labels) for labels in pods):
            problems.append(f"{_name(resource)}: selects no pods")
    return problems


def check_generated(base: Path) -> list[str]:
    from gandan.system.manifests import FILES
    from gandan.system.manifests import render as written

    return [
        f"{base / name} differs from what `python -m gandan.system.manifests {base}` writes"
        for name, make in FILES.items()
        if not (base / name).exists() or (base / name).read_text() != written(make())
    ]


def check_kubernetes(k8s: Path) -> list[str]:
    problems = check_generated(k8s / "base")
    for overlay in sorted((k8s / "overlays").iterdir()):
        try:
            resources = render(overlay)
        except ValueError as error:
            problems.append(str(error))
            continue
        problems += [f"{overlay.name}: {p}" for p in check_resources(resources)]
    return problems


# Compose

_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def _env_example(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip() or "example"  # what the operator fills in
    return values


def check_compose(folder: Path) -> list[str]:
    text = (folder / "compose.yaml").read_text()
    example = _env_example(folder / ".env.example")
    problems = [
        f"compose.yaml uses ${{{v}}}, which .env.example lacks"
        for v in sorted(set(_VARIABLE.findall(text)) - set(example))
    ]
    interpolated = _VARIABLE.sub(lambda m: example.get(m.group(1), "example"), text)
    try:
        document = yaml.safe_load(interpolated)  # resolves the `<<:` merges
        PyCompose.from_json(json.dumps(document))
    except (ValueError, yaml.YAMLError) as error:
        return [*problems, f"compose.yaml: {error}"]
    for name, service in document.get("services", {}).items():
        build = service.get("build")
        if build:
            context = (folder / build["context"]).resolve()
            if not (context / build.get("dockerfile", "Dockerfile")).is_file():
                problems.append(f"compose.yaml: {name}: no Dockerfile {build.get('dockerfile')} in {context}")
        for env_file in service.get("env_file", []):
            if env_file != ".env" and not (folder / env_file).is_file():  # .env: from .env.example
                problems.append(f"compose.yaml: {name}: no env file {env_file}")
    return problems


# Dockerfiles


def check_dockerfiles(root: Path) -> list[str]:
    problems = []
    images = {service: f"services/{service}" for service in SERVICES} | {"tools": "shared/system"}
    for image, package in images.items():
        dockerfile = root / "deploy" / "docker" / f"{image}.Dockerfile"
        if not dockerfile.is_file():
            problems.append(f"no Dockerfile for {image}")
            continue
        text = dockerfile.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            words = line.split()
            if not words or words[0] != "COPY" or any(w.startswith("--from") for w in words):
                continue
            for source in [w for w in words[1:-1] if not w.startswith("--")]:
                if not (root / source).exists():
                    problems.append(f"{dockerfile.name}: COPY {source}: no such file in the repository")
        project = tomllib.loads((root / package / "pyproject.toml").read_text())["project"]
        if f"--package {project['name']}" not in text:
            problems.append(f"{dockerfile.name}: does not sync {project['name']}")
        command = re.search(r'^CMD \["([^"]+)"', text, re.MULTILINE)
        if command is None or command.group(1) not in project["scripts"]:
            problems.append(f"{dockerfile.name}: CMD is not one of {project['name']}'s scripts")
    return problems


def main() -> None:
    os.chdir(ROOT)
    problems = (
        check_dockerfiles(ROOT) + check_compose(ROOT / "deploy" / "compose") + check_kubernetes(ROOT / "deploy" / "k8s")
    )
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"deploy check: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
