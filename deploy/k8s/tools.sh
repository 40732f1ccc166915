#!/usr/bin/env bash
# Run one of the operator's commands (the tools image) with a service's settings, in the cluster:
#   deploy/k8s/tools.sh NAMESPACE SERVICE COMMAND [ARGS...]
#   deploy/k8s/tools.sh gandan-city intake gandan-credentials list --service intake
# The pod gets the service's ConfigMap, Secrets and database connection string, and its labels,
# so the NetworkPolicies let it reach the database as the service does. GANDAN_TOOLS_IMAGE overrides the image.
set -euo pipefail
[[ $# -ge 3 ]] || { sed -n '2,4p' "$0"; exit 2; }
namespace=$1 service=$2; shift 2
image=${GANDAN_TOOLS_IMAGE:-gandan-tools:0.1.0}
secrets='{"secretRef": {"name": "gandan-auth"}}'
case $service in
  intake) secrets+=', {"secretRef": {"name": "gandan-intake"}}' ;;
  notify) secrets+=', {"secretRef": {"name": "gandan-notify", "optional": true}}' ;;
  dispatch|audit) ;;
  *) echo "unknown service: $service" >&2; exit 2 ;;
esac
args=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@")
kubectl -n "$namespace" run "gandan-tools-$service-$RANDOM" --rm -i --restart=Never --image="$image" \
  --labels="app.kubernetes.io/part-of=gandan,app.kubernetes.io/component=service,app.kubernetes.io/name=gandan-tools" \
  --overrides="$(cat <<JSON
{"spec": {"automountServiceAccountToken": false,
  "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
  "containers": [{"name": "tools", "image": "$image", "stdin": true, "args": $args,
    "envFrom": [{"configMapRef": {"name": "gandan-config"}}, $secrets],
    "env": [{"name": "MONGODB_URL", "valueFrom": {"secretKeyRef":
      {"name": "gandan-mongodb-admin-gandan-$service", "key": "connectionString.standard"}}}],
    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}}
JSON
)"
