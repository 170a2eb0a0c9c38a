"""The development cluster (scripts/dev-up.sh): Kafka from Strimzi, PostgreSQL from
CloudNativePG, KEDA, metrics-server, a pinned Dapr. Neither operator ships a Python model of
its resources, so these check, from their documentation, the fields the platform relies on."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import yaml

from tests.deploy.conftest import CHART, ROOT
from webapp.events import topics

MINIKUBE = ROOT / "helm" / "minikube"
DEV_UP = (ROOT / "scripts" / "dev-up.sh").read_text()


def load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((MINIKUBE / name).read_text()) if doc]


def minikube_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((CHART / "values-minikube.yaml").read_text())
    return values


def dapr_local_brokers() -> str:
    component = yaml.safe_load((ROOT / "dapr" / "local" / "pubsub.yaml").read_text())
    brokers = {m["name"]: m.get("value") for m in component["spec"]["metadata"]}["brokers"]
    assert isinstance(brokers, str)
    return brokers


def test_dev_up_installs_maintained_operators_pinned_and_no_bitnami_chart() -> None:
    assert "bitnami" not in DEV_UP.lower(), "Bitnami moved its images (bitnami/charts#36599)"
    for pin in ("STRIMZI_VERSION", "CNPG_CHART_VERSION", "KEDA_CHART_VERSION", "DAPR_VERSION"):
        assert re.search(rf'{pin}="\$\{{{pin}:-\d+\.\d+\.\d+\}}"', DEV_UP), pin
    assert "oci://quay.io/strimzi-helm/strimzi-kafka-operator" in DEV_UP
    assert 'dapr init --kubernetes --runtime-version "${DAPR_VERSION}"' in DEV_UP
    # Without metrics-server the HPAs have no CPU figures and never scale.
    assert "minikube addons enable metrics-server" in DEV_UP
    for manifest in ("kafka.yaml", "postgres.yaml"):
        assert f"kubectl apply -f helm/minikube/{manifest}" in DEV_UP


def test_kafka_is_one_kraft_node_pool_the_dapr_component_reaches() -> None:
    resources = {r["kind"]: r for r in load("kafka.yaml")}
    kafka, pool = resources["Kafka"], resources["KafkaNodePool"]
    assert kafka["apiVersion"] == pool["apiVersion"] == "kafka.strimzi.io/v1beta2"
    # Node pools, not ZooKeeper: Strimzi 0.46+ runs KRaft only and reads roles from the pool.
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["spec"]["replicas"] == 1
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert config["offsets.topic.replication.factor"] == 1
    # The topic operator turns KafkaTopic resources into topics; the exporter reports lag.
    assert "topicOperator" in kafka["spec"]["entityOperator"]
    assert kafka["spec"]["kafkaExporter"]["groupRegex"]
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert (listener["type"], listener["tls"]) == ("internal", False)
    # Strimzi's bootstrap Service is <cluster>-kafka-bootstrap.
    name, namespace = kafka["metadata"]["name"], kafka["metadata"]["namespace"]
    bootstrap = f"{name}-kafka-bootstrap.{namespace}.svc.cluster.local:{listener['port']}"
    assert dapr_local_brokers() == bootstrap
    values = minikube_values()
    assert values["keda"]["bootstrapServers"] == bootstrap
    assert values["networkPolicy"]["kafka"]["namespace"] == namespace
    assert listener["port"] in values["networkPolicy"]["kafka"]["ports"]


def test_every_topic_and_dead_letter_topic_has_12_partitions_and_7_days() -> None:
    resources = load("kafka-topics.yaml")
    names = {r["metadata"]["name"] for r in resources}
    assert names == {
        t for topic in topics.ALL_TOPICS for t in (topic, topics.dead_letter_topic(topic))
    }
    for resource in resources:
        assert resource["kind"] == "KafkaTopic"
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "kafka"
        assert resource["spec"]["partitions"] == minikube_values().get("kafkaPartitions", 12)
        assert resource["spec"]["config"]["retention.ms"] == 7 * 24 * 3600 * 1000


def test_postgres_is_a_cloudnativepg_cluster_the_chart_and_its_budget_agree_with() -> None:
    (cluster,) = load("postgres.yaml")
    assert (cluster["apiVersion"], cluster["kind"]) == ("postgresql.cnpg.io/v1", "Cluster")
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    values = minikube_values()
    url = urlsplit(values["config"]["databaseUrl"])
    # CloudNativePG's read-write Service is <cluster>-rw.
    name, namespace = cluster["metadata"]["name"], cluster["metadata"]["namespace"]
    assert url.hostname == f"{name}-rw.{namespace}.svc.cluster.local"
    assert (url.username, url.path) == (initdb["owner"], f"/{initdb['database']}")
    assert values["networkPolicy"]["postgres"]["namespace"] == namespace
    # The owner's password is the app's database-password, copied by dev-up.sh.
    assert initdb["secret"]["name"] == "postgres-app-credentials"
    assert "kubectl create secret generic postgres-app-credentials" in DEV_UP
    assert "kubernetes.io/basic-auth" in DEV_UP
    parameters = cluster["spec"]["postgresql"]["parameters"]
    assert int(parameters["max_connections"]) == values["database"]["maxConnections"]
    reserved = int(parameters["superuser_reserved_connections"])
    assert reserved == values["database"]["serverReservedConnections"]
