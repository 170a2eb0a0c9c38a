#!/usr/bin/env bash
# Removes the release, the Kafka and PostgreSQL clusters and Zipkin that scripts/dev-up.sh
# installed; the operators (Strimzi, CloudNativePG, KEDA, Dapr), Secrets and the Minikube VM
# stay. `minikube delete --profile todo` throws everything away.
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
# The clusters go, their claims stay (deleteClaim false; CloudNativePG keeps PVCs it owns
# only while the Cluster exists, so its data is kept by not deleting the Cluster's PVC).
kubectl delete --ignore-not-found -f helm/minikube/kafka-topics.yaml -f helm/minikube/kafka.yaml
kubectl delete --ignore-not-found -f helm/minikube/postgres.yaml
kubectl delete deployment,service zipkin --namespace observability --ignore-not-found

echo "Stopped. Volumes and secrets are kept:"
kubectl get pvc --namespace kafka || true
kubectl get pvc --namespace postgres || true
