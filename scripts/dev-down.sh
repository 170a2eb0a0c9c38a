#!/usr/bin/env bash
# Removes what scripts/dev-up.sh installed but keeps the data: PersistentVolumeClaims (Kafka,
# PostgreSQL), Secrets and the Minikube VM stay, so the next dev-up.sh starts where this one
# left off. `minikube delete --profile todo` throws everything away.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
export PATH="${root}/.tools/bin:${PATH}"

PROFILE="${MINIKUBE_PROFILE:-todo}"
NAMESPACE="${NAMESPACE:-todo}"
RELEASE="${RELEASE:-todo}"

kubectl config use-context "${PROFILE}" >/dev/null

helm uninstall "${RELEASE}" --namespace "${NAMESPACE}" --wait --ignore-not-found
kubectl delete --namespace "${NAMESPACE}" --ignore-not-found -f dapr/local/ -f dapr/common/
helm uninstall postgresql --namespace postgres --wait --ignore-not-found
helm uninstall kafka --namespace kafka --wait --ignore-not-found
kubectl delete deployment,service zipkin --namespace observability --ignore-not-found

echo "Stopped. Volumes and secrets are kept:"
kubectl get pvc --all-namespaces --selector 'app.kubernetes.io/instance in (kafka,postgresql)' || true
