"""The Kubernetes manifests derived from the system's own description, written into deploy/k8s/base.

    python -m gandan.system.manifests deploy/k8s/base

What the services are (services.py), the topology (topology.py) and each service's broker
permissions (`gandan-broker-access`'s `grant_for`) are said once, in code; the manifests
that declare them for the RabbitMQ Messaging Topology Operator, the MongoDB Community
Operator, KEDA and Kubernetes itself are written from that, so they cannot drift apart
(tests/test_deploy.py fails when the committed files differ from what this writes).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from gandan.shared.spec import ServiceSpec
from gandan.shared.topology import Topology
from gandan.system.broker_access import grant_for
from gandan.system.services import SERVICES, subscriptions

Manifest = dict[str, Any]

NAMESPACE = "gandan"  # GANDAN_NAMESPACE: prefix of exchanges, queues and databases
RABBITMQ = "gandan-rabbitmq"  # the RabbitmqCluster
MONGODB = "gandan-mongodb"  # the MongoDBCommunity replica set
VHOST = "/"
HTTP_PORT = 8000
# Queue depth per replica KEDA aims at: at ~100 events/s a replica drains it in well under a second.
QUEUE_DEPTH_PER_REPLICA = "50"
PART_OF = {"app.kubernetes.io/part-of": "gandan"}
HEADER = "# Written by `python -m gandan.system.manifests deploy/k8s/base`: do not edit by hand.\n"


def _labels(service: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": f"gandan-{service}", "app.kubernetes.io/component": "service"} | PART_OF


def _k8s_name(name: str) -> str:
    return name.replace(".", "-")


def _cluster() -> dict[str, str]:
    return {"name": RABBITMQ}


def services() -> list[Manifest]:
    """Per service: Deployment, Service, PodDisruptionBudget, KEDA ScaledObject."""
    return [m for spec in SERVICES for m in _service(spec)]


def _env(spec: ServiceSpec) -> list[dict[str, Any]]:
    prefix = spec.http_port_variable.removesuffix("HTTP_PORT")
    credentials = f"gandan-{spec.name}-rabbitmq"
    return [
        {"name": "RABBITMQ_USERNAME", "valueFrom": {"secretKeyRef": {"name": credentials, "key": "username"}}},
        {"name": "RABBITMQ_PASSWORD", "valueFrom": {"secretKeyRef": {"name": credentials, "key": "password"}}},
        # Its own credential: it may publish only what it owns and bind only what it consumes.
        {
            "name": f"{prefix}RABBITMQ_URL",
            "value": f"amqp://$(RABBITMQ_USERNAME):$(RABBITMQ_PASSWORD)@{RABBITMQ}:5672/",
        },
        {
            "name": "MONGODB_URL",
            "valueFrom": {
                # Written by the MongoDB Community Operator for the service's database user.
                "secretKeyRef": {"name": f"{MONGODB}-admin-gandan-{spec.name}", "key": "connectionString.standard"}
            },
        },
        {"name": f"{prefix}HTTP_HOST", "value": "0.0.0.0"},
        {"name": f"{prefix}HTTP_PORT", "value": str(HTTP_PORT)},
    ]


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def _service(spec: ServiceSpec) -> list[Manifest]:
    name, labels = f"gandan-{spec.name}", _labels(spec.name)
    secrets: list[dict[str, Any]] = [{"secretRef": {"name": "gandan-auth"}}]
    if spec.name == "intake":  # the pseudonym key
        secrets.append({"secretRef": {"name": "gandan-intake"}})
    if spec.name == "notify":  # the providers' credentials, once there are providers
        secrets.append({"secretRef": {"name": "gandan-notify", "optional": True}})
    container = {
        "name": spec.name,
        "image": name,
        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
        "envFrom": [{"configMapRef": {"name": "gandan-config"}}, *secrets],
        "env": _env(spec),
        # Ready means the database and broker answer and the consumers are attached.
        "readinessProbe": _probe("/health/ready", 10, 3),
        "livenessProbe": _probe("/health/live", 20, 3),
        "startupProbe": _probe("/health/live", 2, 30),
        "resources": {"requests": {"cpu": "100m", "memory": "192Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        # The endpoints drop the pod before SIGTERM reaches it: no request lands on a stopping intake.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    # SIGTERM: unacked messages go back to the queue, workers stop (preStop 5 s + 15 s graceful).
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
                        }
                    ],
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "labels": labels},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}}},
    }
    triggers: list[dict[str, Any]] = []
    if spec.handlers:
        triggers.append(
            {
                "type": "rabbitmq",
                "metadata": {
                    "protocol": "http",
                    "mode": "QueueLength",
                    "value": QUEUE_DEPTH_PER_REPLICA,
                    "queueName": Topology(NAMESPACE).queue(spec.name).name,
                    "vhostName": VHOST,
                },
                "authenticationRef": {"name": "gandan-rabbitmq-depth"},
            }
        )
    if spec.name == "intake":  # the HTTP front door: its load is requests, not only queue depth
        triggers.append({"type": "cpu", "metricType": "Utilization", "metadata": {"value": "70"}})
    scaler = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "scaleTargetRef": {"name": name},
            "minReplicaCount": 2,
            "maxReplicaCount": 6,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    }
    return [deployment, service, budget, scaler]


def broker() -> list[Manifest]:
    """Exchanges, quorum queues with dead-lettering, bindings, users, permissions and topic
    permissions, as the Messaging Topology Operator declares them: what `gandan-broker-access`
    does on a broker it reaches with `rabbitmqctl`."""
    topology = Topology(NAMESPACE)
    on = {"vhost": VHOST, "rabbitmqClusterReference": _cluster()}
    manifests: list[Manifest] = []

    def add(kind: str, name: str, spec: dict[str, Any]) -> None:
        manifests.append(
            {
                "apiVersion": "rabbitmq.com/v1beta1",
                "kind": kind,
                "metadata": {"name": _k8s_name(name), "labels": PART_OF},
                "spec": spec | on,
            }
        )

    for exchange in (topology.events, topology.retry, topology.dead_letters):
        add(
            "Exchange",
            exchange.name,
            {"name": exchange.name, "type": exchange.type.value, "durable": True, "autoDelete": False},
        )
    for service, patterns in subscriptions().items():
        queue, dead = topology.queue(service), topology.dead_letter_queue(service)
        add(
            "Queue",
            queue.name,
            {"name": queue.name, "type": "quorum", "durable": True, "autoDelete": False, "arguments": queue.arguments},
        )
        add("Queue", dead.name, {"name": dead.name, "type": "quorum", "durable": True, "autoDelete": False})
        bindings = [(topology.events.name, pattern) for pattern in patterns] + [(topology.retry.name, service)]
        for source, key in bindings:
            add(
                "Binding",
                f"{queue.name}.from.{source}.{_key_name(key)}",
                {"source": source, "destination": queue.name, "destinationType": "queue", "routingKey": key},
            )
        add(
            "Binding",
            f"{dead.name}.from.{topology.dead_letters.name}",
            {
                "source": topology.dead_letters.name,
                "destination": dead.name,
                "destinationType": "queue",
                "routingKey": dead.name,
            },
        )
    for spec in SERVICES:
        grant = grant_for(topology, spec.name)
        user = {"name": _k8s_name(grant.user)}
        # The username in the Secret must be the grant's (`gandan-<service>`); see deploy/README.md.
        add("User", grant.user, {"tags": [], "importCredentialsSecret": {"name": f"gandan-{spec.name}-rabbitmq"}})
        add(
            "Permission",
            grant.user,
            {
                "userReference": user,
                "permissions": {"configure": grant.configure, "write": grant.write, "read": grant.read},
            },
        )
        for on_exchange, (write, read) in grant.topics.items():
            add(
                "TopicPermission",
                f"{grant.user}.{on_exchange}",
                {"userReference": user, "permissions": {"exchange": on_exchange, "write": write, "read": read}},
            )
    # KEDA reads queue depths through the management API: a monitoring user that may touch nothing.
    add("User", "gandan-keda", {"tags": ["monitoring"], "importCredentialsSecret": {"name": "gandan-keda-rabbitmq"}})
    add(
        "Permission",
        "gandan-keda",
        {"userReference": {"name": "gandan-keda"}, "permissions": {"configure": "^$", "write": "^$", "read": "^$"}},
    )
    return manifests


def _key_name(key: str) -> str:
    return "all" if key == "#" else key


def database() -> list[Manifest]:
    """The MongoDB replica set: three members, one user per service owning only its database."""
    users = [
        {
            "name": f"gandan-{spec.name}",
            "db": "admin",
            "passwordSecretRef": {"name": f"gandan-{spec.name}-mongodb"},
            "roles": [{"name": "readWrite", "db": spec.database(NAMESPACE)}],
            "scramCredentialsSecretName": f"gandan-{spec.name}-scram",
        }
        for spec in SERVICES
    ]
    return [
        {
            "apiVersion": "mongodbcommunity.mongodb.com/v1",
            "kind": "MongoDBCommunity",
            "metadata": {"name": MONGODB, "labels": PART_OF},
            "spec": {
                "members": 3,
                "type": "ReplicaSet",
                "version": "8.0.12",
                "security": {"authentication": {"modes": ["SCRAM"]}},
                "users": users,
                "statefulSet": {
                    "spec": {
                        "volumeClaimTemplates": [
                            {
                                "metadata": {"name": "data-volume"},
                                "spec": {
                                    "accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": "20Gi"}},
                                },
                            }
                        ]
                    }
                },
            },
        }
    ]


def network() -> list[Manifest]:
    """The services reach only the broker, the database, DNS and (notify) the providers;
    only the ingress controller reaches their HTTP ports."""
    services_only = {"matchLabels": {"app.kubernetes.io/component": "service"} | PART_OF}
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    rabbitmq = {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": RABBITMQ}}}],
        "ports": [{"protocol": "TCP", "port": 5672}],
    }
    mongodb = {
        "to": [{"podSelector": {"matchLabels": {"app": f"{MONGODB}-svc"}}}],
        "ports": [{"protocol": "TCP", "port": 27017}],
    }

    def policy(name: str, spec: dict[str, Any]) -> Manifest:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name, "labels": PART_OF},
            "spec": spec,
        }

    policies = [
        policy(
            "gandan-services",
            {
                "podSelector": services_only,
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
                        ],
                        "ports": [{"protocol": "TCP", "port": HTTP_PORT}],
                    }
                ],
                "egress": [dns, rabbitmq, mongodb],
            },
        ),
        policy(
            "gandan-notify-providers",
            {
                # The SMS/Zalo providers are outside the cluster: HTTPS to addresses not in it.
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "gandan-notify"}},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "ipBlock": {
                                    "cidr": "0.0.0.0/0",
                                    "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
                                }
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": 443}],
                    }
                ],
            },
        ),
        policy(
            "gandan-rabbitmq",
            {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": RABBITMQ}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"podSelector": services_only}], "ports": [{"protocol": "TCP", "port": 5672}]},
                    # The cluster's own nodes (Erlang distribution, stream replication).
                    {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": RABBITMQ}}}]},
                    # The operators and KEDA, in their own namespaces, use the management API.
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
                            for ns in ("rabbitmq-system", "keda")
                        ],
                        "ports": [{"protocol": "TCP", "port": 15672}],
                    },
                ],
            },
        ),
        policy(
            "gandan-mongodb",
            {
                "podSelector": {"matchLabels": {"app": f"{MONGODB}-svc"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{"podSelector": services_only}], "ports": [{"protocol": "TCP", "port": 27017}]},
                    # The replica set's members, and its operator.
                    {"from": [{"podSelector": {"matchLabels": {"app": f"{MONGODB}-svc"}}}]},
                    {
                        "from": [
                            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mongodb-operator"}}}
                        ],
                        "ports": [{"protocol": "TCP", "port": 27017}],
                    },
                ],
            },
        ),
    ]
    return policies


FILES = {"services.yaml": services, "broker.yaml": broker, "database.yaml": database, "network.yaml": network}


def render(manifests: list[Manifest]) -> str:
    return HEADER + str(yaml.safe_dump_all(manifests, sort_keys=False, allow_unicode=True, width=120))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gandan.system.manifests", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the kustomize base, e.g. deploy/k8s/base")
    folder = parser.parse_args(argv).folder
    for name, make in FILES.items():
        (folder / name).write_text(render(make()))
        print(f"wrote {folder / name}")


if __name__ == "__main__":
    main()
