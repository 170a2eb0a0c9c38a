#!/usr/bin/env bash
# Creates the application's Kafka topics and their dead-letter topics (idempotent).
#
#   scripts/create-topics.sh local   # Minikube: applies the KafkaTopic resources of
#                                    # helm/minikube/kafka-topics.yaml (Strimzi's Topic
#                                    # Operator creates them) and waits until each is Ready
#   scripts/create-topics.sh cloud   # managed Kafka: runs a local kafka-topics.sh against
#                                    # $KAFKA_BOOTSTRAP with $KAFKA_CLIENT_CONFIG (SASL/TLS)
#
# Every topic has 12 partitions (the most consumer replicas a worker can usefully run; events
# are keyed by user id, so one user's events stay in order on one partition). Retention is
# 7 days locally and 30 days in the cloud, dead-letter topics included, so an operator has
# time to inspect and replay.
set -euo pipefail

# The topics of webapp/events/topics.py; each also gets <topic>-dlq.
TOPICS=(task-operations task-modifications alerts)
PARTITIONS="${PARTITIONS:-12}"

usage() {
  echo "usage: $0 local|cloud" >&2
  exit 2
}

[[ $# -eq 1 ]] || usage
target="$1"

case "${target}" in
  local)
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    kubectl apply -f "${root}/helm/minikube/kafka-topics.yaml"
    for topic in "${TOPICS[@]}"; do
      for name in "${topic}" "${topic}-dlq"; do
        kubectl wait "kafkatopic/${name}" --namespace "${KAFKA_NAMESPACE:-kafka}" \
          --for=condition=Ready --timeout=5m
      done
    done
    exit 0
    ;;
  cloud)
    retention_days=30
    replication="${REPLICATION_FACTOR:-3}"
    : "${KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP to the broker address (host:port)}"
    : "${KAFKA_CLIENT_CONFIG:?set KAFKA_CLIENT_CONFIG to a client properties file (SASL/TLS)}"
    # kafka TOOL ARGS...: run a Kafka CLI tool from this machine against the managed broker.
    kafka() {
      local tool="$1"
      shift
      "${tool}" --bootstrap-server "${KAFKA_BOOTSTRAP}" \
        --command-config "${KAFKA_CLIENT_CONFIG}" "$@"
    }
    ;;
  *)
    usage
    ;;
esac

retention_ms=$((retention_days * 24 * 60 * 60 * 1000))

for topic in "${TOPICS[@]}"; do
  for name in "${topic}" "${topic}-dlq"; do
    echo "topic ${name}: ${PARTITIONS} partitions, retention ${retention_days} days"
    kafka kafka-topics.sh --create --if-not-exists --topic "${name}" \
      --partitions "${PARTITIONS}" --replication-factor "${replication}" \
      --config "retention.ms=${retention_ms}" \
      --config cleanup.policy=delete
    # --if-not-exists leaves an existing topic alone: bring its retention up to date too.
    kafka kafka-configs.sh --alter --entity-type topics --entity-name "${name}" \
      --add-config "retention.ms=${retention_ms}" >/dev/null
  done
done
