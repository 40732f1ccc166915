"""deploy/check.py (`make deploy-check`): passes on what is committed, fails on each kind of breakage."""

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_check", ROOT / "deploy" / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load()


@pytest.fixture(scope="module")
def city() -> list[dict[str, Any]]:
    return check.render(ROOT / "deploy" / "k8s" / "overlays" / "city")


def test_what_is_committed_passes_every_check(city):
    assert check.check_dockerfiles(ROOT) == []
    assert check.check_compose(ROOT / "deploy" / "compose") == []
    assert check.check_kubernetes(ROOT / "deploy" / "k8s") == []
    kinds = {r["kind"] for r in city}
    assert {"Deployment", "PodDisruptionBudget", "ScaledObject", "NetworkPolicy", "RabbitmqCluster"} <= kinds
    assert {"Queue", "Exchange", "Binding", "User", "Permission", "TopicPermission", "MongoDBCommunity"} <= kinds


def _changed(resources: list[dict[str, Any]], kind: str, name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    copy = [yaml.safe_load(yaml.safe_dump(r)) for r in resources]
    [target] = [r for r in copy if r["kind"] == kind and r["metadata"]["name"] == name]
    return copy, target


def test_a_kubernetes_resource_off_its_schema_fails(city):
    resources, deployment = _changed(city, "Deployment", "gandan-intake")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/health/ready"
    problems = check.check_resources(resources)
    assert any("Deployment/gandan-intake" in p and "paht" in p for p in problems), problems


def test_an_operator_resource_without_a_required_field_fails(city):
    resources, queue = _changed(city, "Queue", "gandan-audit")
    del queue["spec"]["rabbitmqClusterReference"]
    assert check.check_resources(resources) == ["Queue/gandan-audit: spec.rabbitmqClusterReference is required"]


def test_a_reference_to_something_not_declared_fails(city):
    resources, scaler = _changed(city, "ScaledObject", "gandan-notify")
    scaler["spec"]["scaleTargetRef"]["name"] = "gandan-notifier"
    resources.remove(next(r for r in resources if r["kind"] == "Secret" and r["metadata"]["name"] == "gandan-auth"))
    problems = check.check_resources(resources)
    assert "ScaledObject/gandan-notify: scales a Deployment that is not declared" in problems
    assert any("Secret gandan-auth is not declared" in p for p in problems)


def test_an_overlay_kustomize_cannot_render_fails(tmp_path):
    k8s = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy" / "k8s", k8s, ignore=shutil.ignore_patterns("secrets"))
    (k8s / "base" / "keda.yaml").unlink()  # listed in the base's resources
    problems = check.check_kubernetes(k8s)
    assert any(p.startswith("kubectl kustomize") for p in problems), problems


def test_generated_manifests_edited_by_hand_fail(tmp_path):
    k8s = tmp_path / "k8s"
    shutil.copytree(ROOT / "deploy" / "k8s", k8s, ignore=shutil.ignore_patterns("secrets"))
    broker = k8s / "base" / "broker.yaml"
    broker.write_text(broker.read_text().replace("x-delivery-limit: 20", "x-delivery-limit: 3"))
    assert check.check_generated(k8s / "base") == [
        f"{k8s / 'base' / 'broker.yaml'} differs from what `python -m gandan.system.manifests {k8s / 'base'}` writes"
    ]


def test_a_compose_file_off_the_spec_fails(tmp_path):
    folder = tmp_path / "compose"
    shutil.copytree(ROOT / "deploy" / "compose", folder)
    compose = folder / "compose.yaml"
    compose.write_text(compose.read_text().replace("    restart: unless-stopped\n", "    restart: sometimes\n", 1))
    problems = check.check_compose(folder)
    assert len(problems) == 1 and problems[0].startswith("compose.yaml:"), problems


def test_a_compose_variable_missing_from_the_example_env_fails(tmp_path):
    folder = tmp_path / "compose"
    shutil.copytree(ROOT / "deploy" / "compose", folder)
    example = folder / ".env.example"
    example.write_text(example.read_text().replace("RABBITMQ_PASSWORD=\n", ""))
    assert check.check_compose(folder)[0] == "compose.yaml uses ${RABBITMQ_PASSWORD}, which .env.example lacks"


def test_a_dockerfile_copying_what_does_not_exist_fails(tmp_path):
    shutil.copytree(ROOT / "deploy" / "docker", tmp_path / "deploy" / "docker")
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "shared", tmp_path / "shared", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    shutil.copytree(ROOT / "services", tmp_path / "services", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    assert check.check_dockerfiles(tmp_path) == []
    shutil.rmtree(tmp_path / "services" / "audit" / "src")
    assert check.check_dockerfiles(tmp_path) == [
        f"{image}.Dockerfile: COPY services/audit/src: no such file in the repository" for image in ("audit", "tools")
    ]
