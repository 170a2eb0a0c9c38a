#!/usr/bin/env bash
# The distributed shape on one laptop: Minikube with Calico (so NetworkPolicies are enforced)
# and metrics-server (so the HPAs scale), the Dapr control plane, KEDA, Kafka (Strimzi, KRaft)
# and PostgreSQL (CloudNativePG) in the cluster, the topics as KafkaTopic resources, Zipkin,
# the image built into Minikube, the chart installed with values-minikube.yaml, and the API
# forwarded to http://localhost:8000. Re-running it upgrades in place.
#
# Needs: minikube, kubectl, helm (v3.8+ or v4; `make tools` puts one in .tools/bin), dapr CLI,
# openssl. Tunables below can be overridden from the environment.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
export PATH="${root}/.tools/bin:${PATH}"

PROFILE="${MINIKUBE_PROFILE:-todo}"
NAMESPACE="${NAMESPACE:-todo}"
RELEASE="${RELEASE:-todo}"
DAPR_VERSION="${DAPR_VERSION:-1.16.2}"
# Operators, pinned: Strimzi runs Kafka, CloudNativePG runs PostgreSQL, KEDA scales workers.
STRIMZI_VERSION="${STRIMZI_VERSION:-0.48.0}"
CNPG_CHART_VERSION="${CNPG_CHART_VERSION:-0.27.1}"
KEDA_CHART_VERSION="${KEDA_CHART_VERSION:-2.17.2}"
IMAGE="todo-platform:dev"
LOCAL_PORT="${LOCAL_PORT:-8000}"

need() {
  command -v "$1" >/dev/null || { echo "dev-up: $1 is required" >&2; exit 1; }
}
for tool in minikube kubectl helm dapr openssl; do need "${tool}"; done

step() { printf '\n==> %s\n' "$*"; }

# A Secret per key, named as the Dapr secret store key (see dapr/local/secretstore.yaml);
# created once with a random value and never overwritten.
ensure_secret() {
  local namespace="$1" name="$2" value="$3"
  if ! kubectl get secret --namespace "${namespace}" "${name}" >/dev/null 2>&1; then
    kubectl create secret generic "${name}" --namespace "${namespace}" \
      --from-literal="${name}=${value}" >/dev/null
    echo "created secret ${namespace}/${name}"
  fi
}

secret_value() {
  kubectl get secret --namespace "$1" "$2" -o "go-template={{ index .data \"$2\" | base64decode }}"
}

step "Minikube (profile ${PROFILE})"
if ! minikube status --profile "${PROFILE}" >/dev/null 2>&1; then
  minikube start --profile "${PROFILE}" --cpus 4 --memory 8192 --cni calico \
    --kubernetes-version v1.33.1
fi
kubectl config use-context "${PROFILE}" >/dev/null
# Resource metrics for the web pods' CPU HPA (and `kubectl top`).
minikube addons enable metrics-server --profile "${PROFILE}" >/dev/null

step "Dapr ${DAPR_VERSION} control plane (with the Scheduler for jobs, mTLS on)"
if ! kubectl get namespace dapr-system >/dev/null 2>&1; then
  dapr init --kubernetes --runtime-version "${DAPR_VERSION}" --enable-mtls=true --wait
fi

for namespace in "${NAMESPACE}" kafka postgres observability; do
  kubectl create namespace "${namespace}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done

step "KEDA ${KEDA_CHART_VERSION} (workers scale on consumer lag)"
helm upgrade --install keda keda --repo https://kedacore.github.io/charts \
  --version "${KEDA_CHART_VERSION}" --namespace keda --create-namespace --wait --timeout 10m

step "Kafka: Strimzi ${STRIMZI_VERSION}, one KRaft node"
helm upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
  --version "${STRIMZI_VERSION}" --namespace kafka --wait --timeout 10m
kubectl apply -f helm/minikube/kafka.yaml
kubectl wait kafka/kafka --namespace kafka --for=condition=Ready --timeout=10m

step "Topics"
"${root}/scripts/create-topics.sh" local

step "PostgreSQL: CloudNativePG"
helm upgrade --install cnpg cloudnative-pg --repo https://cloudnative-pg.github.io/charts \
  --version "${CNPG_CHART_VERSION}" --namespace cnpg-system --create-namespace \
  --wait --timeout 10m
ensure_secret "${NAMESPACE}" database-password "$(openssl rand -hex 24)"
database_password="$(secret_value "${NAMESPACE}" database-password)"
# The owner's credentials for initdb, as CloudNativePG reads them (basic-auth).
kubectl create secret generic postgres-app-credentials --namespace postgres \
  --type kubernetes.io/basic-auth \
  --from-literal=username=todo --from-literal=password="${database_password}" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl apply -f helm/minikube/postgres.yaml
kubectl wait cluster/postgresql --namespace postgres --for=condition=Ready --timeout=10m

step "Zipkin (traces)"
kubectl create deployment zipkin --namespace observability --image=openzipkin/zipkin:3 \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl expose deployment zipkin --namespace observability --port 9411 \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null

step "App secrets (Kubernetes secret store)"
ensure_secret "${NAMESPACE}" django-secret-key "$(openssl rand -hex 48)"
ensure_secret "${NAMESPACE}" smtp-password "unused-in-development"
ensure_secret "${NAMESPACE}" firebase-credentials "{}"
state_store="host=postgresql-rw.postgres.svc.cluster.local port=5432 user=todo"
state_store="${state_store} password=${database_password} dbname=todo sslmode=prefer"
kubectl create secret generic state-store-connection-string --namespace "${NAMESPACE}" \
  --from-literal=state-store-connection-string="${state_store}" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null

step "Dapr components, configuration and resiliency"
kubectl apply --namespace "${NAMESPACE}" -f dapr/common/ -f dapr/local/

step "Image ${IMAGE} (built inside Minikube)"
minikube image build --profile "${PROFILE}" -t "${IMAGE}" .

step "Helm release ${RELEASE}"
helm upgrade --install "${RELEASE}" helm/todo --namespace "${NAMESPACE}" \
  -f helm/todo/values-minikube.yaml \
  --set image.tag=dev \
  --atomic --wait --timeout 10m
# The tag does not change between builds: restart so the pods run the image just built.
kubectl rollout restart deployment --namespace "${NAMESPACE}" \
  --selector "app.kubernetes.io/instance=${RELEASE}"
kubectl rollout status deployment --namespace "${NAMESPACE}" \
  --selector "app.kubernetes.io/instance=${RELEASE}" --timeout 5m

step "API on http://localhost:${LOCAL_PORT} (Ctrl-C stops the port-forward, not the cluster)"
exec kubectl port-forward --namespace "${NAMESPACE}" "service/${RELEASE}-web" "${LOCAL_PORT}:80"
