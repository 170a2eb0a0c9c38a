#!/usr/bin/env bash
# The distributed shape on one laptop: Minikube with Calico (so NetworkPolicies are enforced),
# the Dapr control plane, Kafka and PostgreSQL in the cluster, the topics, the image built
# into Minikube, the chart installed with values-minikube.yaml, and the API forwarded to
# http://localhost:8000. Re-running it upgrades in place.
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
KAFKA_CHART_VERSION="${KAFKA_CHART_VERSION:-32.4.3}"
POSTGRES_CHART_VERSION="${POSTGRES_CHART_VERSION:-16.7.27}"
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

step "Dapr ${DAPR_VERSION} control plane (with the Scheduler for jobs)"
if ! kubectl get namespace dapr-system >/dev/null 2>&1; then
  dapr init --kubernetes --runtime-version "${DAPR_VERSION}" --wait
fi

for namespace in "${NAMESPACE}" kafka postgres observability; do
  kubectl create namespace "${namespace}" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done

step "Kafka (KRaft, one broker)"
helm upgrade --install kafka oci://registry-1.docker.io/bitnamicharts/kafka \
  --version "${KAFKA_CHART_VERSION}" --namespace kafka \
  --set controller.replicaCount=1 \
  --set listeners.client.protocol=PLAINTEXT \
  --set provisioning.enabled=false \
  --set extraConfig="auto.create.topics.enable=false" \
  --wait --timeout 10m

step "Topics"
"${root}/scripts/create-topics.sh" local

step "PostgreSQL"
ensure_secret "${NAMESPACE}" database-password "$(openssl rand -hex 24)"
database_password="$(secret_value "${NAMESPACE}" database-password)"
# The chart reads the superuser's and the app user's passwords from one Secret of its own.
if ! kubectl get secret --namespace postgres postgres-credentials >/dev/null 2>&1; then
  kubectl create secret generic postgres-credentials --namespace postgres \
    --from-literal=postgres-password="$(openssl rand -hex 24)" \
    --from-literal=password="${database_password}" >/dev/null
fi
helm upgrade --install postgresql oci://registry-1.docker.io/bitnamicharts/postgresql \
  --version "${POSTGRES_CHART_VERSION}" --namespace postgres \
  --set auth.username=todo \
  --set auth.database=todo \
  --set auth.existingSecret=postgres-credentials \
  --set primary.persistence.size=2Gi \
  --wait --timeout 10m

step "Zipkin (traces)"
kubectl create deployment zipkin --namespace observability --image=openzipkin/zipkin:3 \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl expose deployment zipkin --namespace observability --port 9411 \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null

step "App secrets (Kubernetes secret store)"
ensure_secret "${NAMESPACE}" django-secret-key "$(openssl rand -hex 48)"
ensure_secret "${NAMESPACE}" smtp-password "unused-in-development"
ensure_secret "${NAMESPACE}" firebase-credentials "{}"
state_store="host=postgresql.postgres.svc.cluster.local port=5432 user=todo"
state_store="${state_store} password=${database_password} dbname=todo sslmode=disable"
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
