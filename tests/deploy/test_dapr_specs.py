"""Dapr components and specs under dapr/: they parse, and they name only the app-ids, topics,
components and secrets that the code and the chart declare."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

from tests.deploy.conftest import ROOT, Rendering
from webapp.events import registry, topics
from webapp.secrets import dapr_secret_key

DAPR = ROOT / "dapr"
VARIANT_DIRS = ("local", "cloud")
APP_PACKAGES = ("webapp", "accounts_app", "tasks_app", "recurrence_app", "notifications_app")
# The contract's secret names (ARCHITECTURE.md); the code may read fewer while it grows.
CONTRACT_SECRETS = {
    "DJANGO_SECRET_KEY",
    "DATABASE_PASSWORD",
    "SMTP_PASSWORD",
    "FIREBASE_CREDENTIALS",
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def specs(variant: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every spec applied for a variant (common + its own folder), by (kind, name)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for folder in ("common", variant):
        for path in sorted((DAPR / folder).glob("*.yaml")):
            for doc in documents(path):
                key = (doc["kind"], doc["metadata"]["name"])
                assert key not in found, f"{key} defined twice for {variant}"
                found[key] = doc
    return found


def component(variant: str, name: str) -> dict[str, Any]:
    return specs(variant)[("Component", name)]


def metadata(spec: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in spec["spec"]["metadata"]}


def chart_app_ids(rendering: Rendering) -> set[str]:
    ids = set()
    for deployment in rendering.of_kind("Deployment"):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        if annotations.get("dapr.io/enabled") == "true":
            ids.add(annotations["dapr.io/app-id"])
    return ids


def code_app_ids() -> set[str]:
    """App-ids the code declares: the web process plus every subscriber's and job handler's."""
    return (
        {"webapp"}
        | {s.app_id for s in registry.subscriptions()}
        | {r.app_id for r in registry.job_routes()}
    )


def secrets_read_by_code() -> set[str]:
    pattern = re.compile(r"get_secret\(\s*[\"']([A-Z0-9_]+)[\"']")
    names: set[str] = set()
    for package in APP_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names.update(pattern.findall(path.read_text()))
    return names


def test_every_file_under_dapr_parses_as_a_dapr_resource() -> None:
    paths = sorted(DAPR.rglob("*.y*ml"))
    assert len(paths) >= 9
    for path in paths:
        for doc in documents(path):
            assert doc["apiVersion"] == "dapr.io/v1alpha1", path
            assert doc["kind"] in {"Component", "Configuration", "Resiliency"}, path
            assert re.fullmatch(r"[a-z0-9-]+", doc["metadata"]["name"]), path
            # Programmatic subscriptions only: a declarative route makes the SDK drop events.
            assert doc["kind"] != "Subscription", path


def test_local_and_cloud_define_the_same_components_under_the_names_the_app_uses() -> None:
    local, cloud = specs("local"), specs("cloud")
    assert set(local) == set(cloud)
    names = {name for kind, name in local if kind == "Component"}
    assert names == {
        settings.DAPR_PUBSUB_NAME,
        settings.DAPR_STATE_STORE,
        settings.DAPR_SECRET_STORE,
    }
    types = {
        variant: {n: component(variant, n)["spec"]["type"] for n in names}
        for variant in VARIANT_DIRS
    }
    assert types["local"]["pubsub"] == types["cloud"]["pubsub"] == "pubsub.kafka"
    assert types["local"]["secretstore"] == "secretstores.kubernetes"
    assert types["cloud"]["secretstore"] == "secretstores.azure.keyvault"
    for variant in VARIANT_DIRS:
        state = component(variant, "statestore")
        assert (state["spec"]["type"], state["spec"]["version"]) == ("state.postgresql", "v2")


@pytest.mark.parametrize("variant", VARIANT_DIRS)
def test_kafka_starts_new_consumer_groups_at_the_oldest_event(variant: str) -> None:
    items = metadata(component(variant, "pubsub"))
    assert items["initialOffset"]["value"] == "oldest"
    # Each app-id is its own consumer group (the default); a fixed group would split events
    # between the two workers.
    assert "consumerGroup" not in items


def test_cloud_kafka_uses_sasl_over_tls_with_credentials_from_the_secret_store() -> None:
    spec = component("cloud", "pubsub")
    items = metadata(spec)
    assert items["authType"]["value"] == "password"
    assert items["disableTls"]["value"] == "false"
    for key in ("saslUsername", "saslPassword"):
        assert "value" not in items[key]
        assert items[key]["secretKeyRef"]["name"]
    assert spec["auth"]["secretStore"] == settings.DAPR_SECRET_STORE


def test_cloud_secret_store_is_key_vault_through_workload_identity() -> None:
    items = metadata(component("cloud", "secretstore"))
    assert set(items) == {"vaultName", "azureClientId", "azureTenantId"}
    # No client secret or certificate: the federated token is the only credential.
    assert not {"azureClientSecret", "azureCertificate", "azureCertificateFile"} & set(items)


@pytest.mark.parametrize("variant", VARIANT_DIRS)
def test_scopes_name_only_app_ids_the_chart_deploys(
    renderings: dict[str, Rendering], variant: str
) -> None:
    deployed = chart_app_ids(renderings["aks" if variant == "cloud" else "minikube"])
    for (kind, name), spec in specs(variant).items():
        if kind == "Configuration":
            continue  # chosen per pod by the dapr.io/config annotation, not scoped
        scopes = set(spec.get("scopes", []))
        assert scopes, f"{kind}/{name} has no scopes: every app-id would load it"
        assert scopes <= deployed, f"{kind}/{name} names unknown app-ids {scopes - deployed}"
    assert set(component(variant, "pubsub")["scopes"]) == deployed
    assert set(component(variant, "secretstore")["scopes"]) == deployed
    # Conversation history belongs to the web process only.
    assert component(variant, "statestore")["scopes"] == ["webapp"]


def deployment_problems(rendering: Rendering) -> list[str]:
    """Each app-id that registers a subscriber or a job handler needs a Deployment under that
    app-id, running a worker command the code provides. Holds as handlers are added."""
    problems = []
    declared = code_app_ids()
    deployed = chart_app_ids(rendering)
    commands = get_commands()
    for app_id in sorted(declared - deployed):
        problems.append(f"no Deployment for app-id {app_id}")
    for app_id in sorted((declared & deployed) - {"webapp"}):
        deployment = rendering.named("Deployment", f"todo-{app_id}")
        command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
        if command[:2] != ["python", "manage.py"] or command[2] not in commands:
            problems.append(f"{app_id} runs {command}, which the code does not provide")
    return problems


def test_every_app_id_the_code_declares_is_deployed_with_its_worker_command(
    renderings: dict[str, Rendering],
) -> None:
    for variant in ("minikube", "aks"):
        assert deployment_problems(renderings[variant]) == []


def test_a_subscriber_under_an_app_id_the_chart_lacks_is_caught(
    renderings: dict[str, Rendering], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_subscriptions", dict(registry._subscriptions))
    registry.subscriber(
        consumer="billing.invoices",
        app_id="billing",
        topic=topics.TASK_OPERATIONS,
        types=[topics.TASK_COMPLETED],
    )(lambda envelope: None)
    assert "no Deployment for app-id billing" in deployment_problems(renderings["aks"])


def test_every_subscriber_in_the_code_can_reach_the_pubsub_and_its_topic(tmp_path: Path) -> None:
    scoped = set(component("cloud", "pubsub")["scopes"]) & set(
        component("local", "pubsub")["scopes"]
    )
    created = set(topics_created_by_script("local", tmp_path))
    for subscription in registry.subscriptions():
        assert subscription.app_id in scoped, subscription.consumer
        assert subscription.topic in topics.ALL_TOPICS, subscription.consumer
        assert subscription.topic in created, subscription.consumer
        assert topics.dead_letter_topic(subscription.topic) in created, subscription.consumer
        for event_type in subscription.types:
            assert topics.TOPIC_OF_TYPE[event_type] == subscription.topic, event_type


def fake_tool(folder: Path, name: str, log: Path) -> None:
    path = folder / name
    path.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "{name} $*" >> "{log}"\n')
    path.chmod(0o755)


MINIKUBE_TOPICS = ROOT / "helm" / "minikube" / "kafka-topics.yaml"


def strimzi_topics() -> dict[str, dict[str, str]]:
    """The KafkaTopic resources Minikube gets, in the shape of a kafka-topics.sh call."""
    created: dict[str, dict[str, str]] = {}
    for resource in yaml.safe_load_all(MINIKUBE_TOPICS.read_text()):
        assert resource["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert resource["kind"] == "KafkaTopic"
        # The Topic Operator only manages topics labelled with its Kafka cluster's name.
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == "kafka"
        spec = resource["spec"]
        created[resource["metadata"]["name"]] = {
            "--partitions": str(spec["partitions"]),
            "--replication-factor": str(spec["replicas"]),
            **{key: str(value) for key, value in spec["config"].items()},
        }
    return created


def topics_created_by_script(target: str, folder: Path) -> dict[str, dict[str, str]]:
    """Run scripts/create-topics.sh against fake tools; return the topics it creates.

    Locally the script applies the KafkaTopic resources (Strimzi creates the topics); in the
    cloud it calls kafka-topics.sh itself.
    """
    log = folder / "calls.log"
    for name in ("kubectl", "kafka-topics.sh", "kafka-configs.sh"):
        fake_tool(folder, name, log)
    env = {
        **os.environ,
        "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}",
        "KAFKA_BOOTSTRAP": "broker.example:9093",
        "KAFKA_CLIENT_CONFIG": str(folder / "client.properties"),
    }
    bash = shutil.which("bash")
    assert bash is not None
    subprocess.run(  # noqa: S603 - the project's own script
        [bash, str(ROOT / "scripts" / "create-topics.sh"), target],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    if target == "local":
        calls = log.read_text()
        assert f"kubectl apply -f {MINIKUBE_TOPICS}" in calls
        for name in strimzi_topics():
            assert f"kubectl wait kafkatopic/{name} " in calls, name
        return strimzi_topics()
    created: dict[str, dict[str, str]] = {}
    for line in log.read_text().splitlines():
        args = line.split()
        if "--create" not in args:
            continue
        options = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
        configs = dict(
            args[i + 1].split("=", 1) for i in range(len(args) - 1) if args[i] == "--config"
        )
        created[options["--topic"]] = {**options, **configs}
    return created


@pytest.mark.parametrize(("target", "days"), [("local", 7), ("cloud", 30)])
def test_topic_script_creates_every_code_topic_and_its_dead_letter_topic(
    tmp_path: Path, target: str, days: int
) -> None:
    created = topics_created_by_script(target, tmp_path)
    expected = {t for topic in topics.ALL_TOPICS for t in (topic, topics.dead_letter_topic(topic))}
    assert set(created) == expected
    for name, options in created.items():
        assert options["--partitions"] == "12", name
        assert options["retention.ms"] == str(days * 24 * 3600 * 1000), name
        assert options["cleanup.policy"] == "delete", name
    if target == "cloud":
        assert "--if-not-exists" in (tmp_path / "calls.log").read_text()


def test_resiliency_retries_pubsub_three_times_five_seconds_apart() -> None:
    (resiliency,) = [s for (kind, _), s in specs("local").items() if kind == "Resiliency"]
    policy = resiliency["spec"]["policies"]["retries"]["pubsubRetry"]
    assert policy == {"policy": "constant", "duration": "5s", "maxRetries": 3}
    targets = resiliency["spec"]["targets"]["components"]
    assert set(targets) == {settings.DAPR_PUBSUB_NAME}
    for direction in ("inbound", "outbound"):
        assert targets[settings.DAPR_PUBSUB_NAME][direction]["retry"] == "pubsubRetry"
    # The app's own retry budget (EVENT_RETRY_*) matches what daprd does.
    assert settings.EVENT_RETRY_ATTEMPTS == 3
    assert settings.EVENT_RETRY_DELAY_SECONDS == 5.0


@pytest.mark.parametrize("variant", VARIANT_DIRS)
def test_configuration_traces_to_zipkin_exports_metrics_and_scopes_secrets(
    renderings: dict[str, Rendering], variant: str
) -> None:
    (config,) = [s for (kind, _), s in specs(variant).items() if kind == "Configuration"]
    chart_variant = "aks" if variant == "cloud" else "minikube"
    for deployment in renderings[chart_variant].of_kind("Deployment"):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["dapr.io/config"] == config["metadata"]["name"]
    tracing = config["spec"]["tracing"]
    assert tracing["zipkin"]["endpointAddress"]
    assert isinstance(tracing["samplingRate"], str)
    assert config["spec"]["metrics"]["enabled"] is True
    (scope,) = config["spec"]["secrets"]["scopes"]
    assert scope["storeName"] == settings.DAPR_SECRET_STORE
    assert scope["defaultAccess"] == "deny"
    allowed = set(scope["allowedSecrets"])
    read = {dapr_secret_key(name) for name in secrets_read_by_code()}
    assert read, "the code reads no secret through get_secret?"
    assert read <= allowed, f"the code reads secrets the store would refuse: {read - allowed}"
    assert allowed <= {dapr_secret_key(name) for name in CONTRACT_SECRETS} | read


def test_chart_lists_every_secret_the_code_reads() -> None:
    values = yaml.safe_load((ROOT / "helm" / "todo" / "values.yaml").read_text())
    read = {dapr_secret_key(name) for name in secrets_read_by_code()}
    assert read <= set(values["secretNames"])


def test_cloud_placeholders_are_exactly_those_the_deploy_workflow_fills_in() -> None:
    placeholder = re.compile(r"\$\{([A-Z_]+)\}")
    used = {
        name
        for path in (DAPR / "cloud").glob("*.yaml")
        for name in placeholder.findall(path.read_text())
    }
    workflow = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    substituted = set(
        re.findall(
            r"\\?\$([A-Z_]+)",
            " ".join(
                line for line in workflow.splitlines() if line.strip().startswith("placeholders=")
            ),
        )
    )
    assert used == substituted
    for name in used:
        assert re.search(rf"^\s+{name}: \$\{{\{{ vars\.[A-Z_]+ \}}\}}$", workflow, re.M), name
    # Filled in, every file is still one valid spec.
    for path in (DAPR / "cloud").glob("*.yaml"):
        text = placeholder.sub("filled-in", path.read_text())
        assert len([d for d in yaml.safe_load_all(text) if d]) == 1


def test_deployment_guide_lists_every_topic_and_secret() -> None:
    guide = (ROOT / "docs" / "deployment.md").read_text()
    for topic in topics.ALL_TOPICS:
        assert f"`{topic}`" in guide, topic
        assert f"`{topics.dead_letter_topic(topic)}`" in guide, topic
    for name in CONTRACT_SECRETS | secrets_read_by_code():
        assert f"`{dapr_secret_key(name)}`" in guide, name
    for item in metadata(component("cloud", "pubsub")).values():
        if "secretKeyRef" in item:
            assert f"`{item['secretKeyRef']['name']}`" in guide
    assert "helm rollback" in guide


def test_cloud_kafka_defaults_to_redpanda_scram_with_event_hubs_plain_as_the_alternative() -> None:
    """Redpanda Cloud Serverless takes SCRAM over TLS; Event Hubs' Kafka endpoint SASL PLAIN
    over TLS with the user `$ConnectionString`, which envsubst must leave alone."""
    redpanda = metadata(component("cloud", "pubsub"))
    assert redpanda["saslMechanism"]["value"] in {"SHA-256", "SHA-512"}
    (eventhubs,) = documents(DAPR / "cloud" / "eventhubs" / "pubsub.yaml")
    items = metadata(eventhubs)
    assert eventhubs["metadata"]["name"] == settings.DAPR_PUBSUB_NAME
    assert items["saslMechanism"]["value"] == "PLAINTEXT"  # Dapr's name for SASL/PLAIN
    assert items["disableTls"]["value"] == "false"
    assert items["initialOffset"]["value"] == "oldest"
    for key in ("saslUsername", "saslPassword"):
        assert items[key]["secretKeyRef"]["name"] == redpanda[key]["secretKeyRef"]["name"]
    assert eventhubs["scopes"] == component("cloud", "pubsub")["scopes"]
    workflow = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "file=dapr/cloud/eventhubs/pubsub.yaml" in workflow
