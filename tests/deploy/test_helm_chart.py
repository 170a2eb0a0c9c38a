"""The Helm chart, rendered with each values file and checked object by object."""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.test import RequestFactory
from django.urls import Resolver404, resolve

from tests.deploy.conftest import CHART, VARIANTS, Rendering, helm_args, render, run, tool
from webapp import probes
from webapp.events import registry
from webapp.events.notify import STREAM_CONNECTIONS_PER_PROCESS
from webapp.events.worker import WORKER_THREADS

KUBERNETES_VERSION = "1.33.0"
# Custom resources the chart renders whose schemas kubernetes-validate does not ship; their
# shape is checked by the dedicated tests below instead.
CUSTOM_KINDS = {
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
    "SecretProviderClass",
    "ScaledObject",
    "TriggerAuthentication",
}
WORKER_APP_IDS = {"recurrence", "notifications"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|CREDENTIALS", re.IGNORECASE)
# Names that match but hold no secret: the name of the store the secrets are read from.
NOT_SECRETS = {"DAPR_SECRET_STORE"}
# The pods' writable scratch mount (the root file system is read-only).
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108

variants = pytest.mark.parametrize("variant", sorted(VARIANTS))
# The web process's server settings in every values file (values.yaml web.server).
WEB_SERVER_ENV = {
    "WEB_CONCURRENCY": "1",
    "WEB_THREADS": "4",
    "MCP_TOOL_THREADS": "2",
    "DATABASE_POOL_MAX_SIZE": "7",
    "DATABASE_POOL_TIMEOUT": "5",
}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def dapr_app_id(workload: dict[str, Any]) -> str | None:
    annotations = workload["spec"]["template"]["metadata"].get("annotations") or {}
    if annotations.get("dapr.io/enabled") != "true":
        return None
    return str(annotations["dapr.io/app-id"])


def env_of(container: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def chart_values(variant: str) -> dict[str, Any]:
    """values.yaml with the variant's values files merged over it, as Helm merges them."""

    def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value
        return base

    values: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    for name in VARIANTS[variant][0]:
        merge(values, yaml.safe_load((CHART / name).read_text()))
    return values


def millicores(quantity: str | float) -> int:
    text = str(quantity)
    return int(text[:-1]) if text.endswith("m") else round(float(text) * 1000)


def peak_pods(rendering: Rendering, deployment: dict[str, Any]) -> int:
    """The most pods a Deployment runs: its HPA's maxReplicas (or its replicas) plus the extra
    pods of a rolling update at that size (a percentage maxSurge rounds up)."""
    name = deployment["metadata"]["name"]
    hpas = [
        h["spec"]["maxReplicas"]
        for h in rendering.of_kind("HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == name
    ] + [
        s["spec"]["maxReplicaCount"]  # KEDA makes an HPA of this size
        for s in rendering.of_kind("ScaledObject")
        if s["spec"]["scaleTargetRef"]["name"] == name
    ]
    assert len(hpas) <= 1, f"{name} has more than one autoscaler"
    replicas = hpas[0] if hpas else deployment["spec"]["replicas"]
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    if isinstance(surge, str) and surge.endswith("%"):
        return int(replicas + math.ceil(replicas * int(surge[:-1]) / 100))
    return int(replicas + surge)


def connections_at_full_scale(rendering: Rendering, values: dict[str, Any]) -> dict[str, int]:
    """The most connections each Deployment's pods can hold, from the rendered objects and the
    code: web processes x their pool plus the sidecar's state store pool; a worker process one
    per fixed thread (app-callback threads, the relay, one readiness probe, delivery threads)."""
    held: dict[str, int] = {}
    for deployment in rendering.of_kind("Deployment"):
        env = env_of(containers(deployment)[0])
        app_id = dapr_app_id(deployment)
        if app_id == "webapp":
            per_process = int(env["DATABASE_POOL_MAX_SIZE"] or 0) + STREAM_CONNECTIONS_PER_PROCESS
            pooled = int(env["WEB_CONCURRENCY"] or 0) * per_process
            per_pod = pooled + values["dapr"]["stateStoreMaxConnections"]
        else:
            per_pod = WORKER_THREADS + 1 + 1
            if app_id == "notifications":
                per_pod += int(env["NOTIFICATION_DELIVERY_THREADS"] or 0)
        held[str(app_id)] = peak_pods(rendering, deployment) * per_pod
    return held


@variants
def test_chart_passes_helm_lint_strict(variant: str) -> None:
    values_files, settings = VARIANTS[variant]
    output = run([tool("helm"), "lint", "--strict", CHART, *helm_args(values_files, settings)])
    assert "0 chart(s) failed" in output


@variants
def test_every_rendered_object_is_valid_kubernetes(
    renderings: dict[str, Rendering], variant: str
) -> None:
    rendering = renderings[variant]
    checked = 0
    for obj in rendering.objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        # strict: unknown fields are errors too, which catches a mis-indented key.
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 15, f"only {checked} objects validated for {variant}"


@variants
def test_custom_resources_have_the_fields_their_operators_need(
    renderings: dict[str, Rendering], variant: str
) -> None:
    for obj in renderings[variant].objects:
        if obj["kind"] not in CUSTOM_KINDS:
            continue
        assert obj["apiVersion"] in {
            "monitoring.coreos.com/v1",
            "secrets-store.csi.x-k8s.io/v1",
            "keda.sh/v1alpha1",
        }
        assert obj["metadata"]["namespace"] == "todo"
        spec = obj["spec"]
        if obj["kind"] in {"ScaledObject", "TriggerAuthentication"}:
            continue  # test_keda_*
        if obj["kind"] == "ServiceMonitor":
            assert spec["selector"]["matchLabels"]
            # Never the app port (`http`): the ingress routes that one to the world.
            assert {e["port"] for e in spec["endpoints"]} == {"metrics"}
        elif obj["kind"] == "PodMonitor":
            assert [e["port"] for e in spec["podMetricsEndpoints"]] == ["dapr-metrics"]
        elif obj["kind"] == "PrometheusRule":
            for group in spec["groups"]:
                for rule in group["rules"]:
                    assert rule["alert"] and rule["expr"].strip()
                    assert rule["labels"]["severity"] in {"warning", "critical"}
        else:
            assert obj["kind"] == "SecretProviderClass"
            assert spec["provider"] == "azure"
            assert "django-secret-key" in spec["parameters"]["objects"]


@variants
def test_app_pods_carry_dapr_annotations_for_their_app_id(
    renderings: dict[str, Rendering], variant: str
) -> None:
    expected = {
        "todo-web": ("webapp", "http", "8000"),
        "todo-recurrence": ("recurrence", "grpc", "50051"),
        "todo-notifications": ("notifications", "grpc", "50051"),
    }
    deployments = {d["metadata"]["name"]: d for d in renderings[variant].of_kind("Deployment")}
    assert set(deployments) == set(expected)
    for name, (app_id, protocol, port) in expected.items():
        annotations = deployments[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["dapr.io/enabled"] == "true"
        assert annotations["dapr.io/app-id"] == app_id
        assert annotations["dapr.io/app-protocol"] == protocol
        assert annotations["dapr.io/app-port"] == port
        assert annotations["dapr.io/config"] == "todo-config"
        # daprd's own metrics must not take the workers' health port (9090).
        assert annotations["dapr.io/metrics-port"] == "9091"
        # The app listens where daprd is told to call it.
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert int(port) in {p["containerPort"] for p in container["ports"]}


@variants
def test_processes_run_the_contracted_commands(
    renderings: dict[str, Rendering], variant: str
) -> None:
    rendering = renderings[variant]
    web = rendering.named("Deployment", "todo-web")["spec"]["template"]["spec"]["containers"][0]
    assert web["command"][:3] == ["python", "manage.py", "web"]
    assert web["command"][web["command"].index("--port") + 1] == "8000"
    for app_id in WORKER_APP_IDS:
        worker = rendering.named("Deployment", f"todo-{app_id}")
        command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[:3] == ["python", "manage.py", f"run_{app_id}_worker"]
        assert command[command.index("--port") + 1] == "50051"
        assert command[command.index("--http-port") + 1] == "9090"
    job = rendering.named("Job", "todo-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["python", "manage.py", "migrate", "--noinput"]


@variants
def test_web_serves_with_manage_py_web_and_its_process_model(
    renderings: dict[str, Rendering], variant: str
) -> None:
    web = containers(renderings[variant].named("Deployment", "todo-web"))[0]
    listen = ["--host", "0.0.0.0", "--port", "8000"]  # noqa: S104 - the pod's own interfaces
    assert web["command"] == ["python", "manage.py", "web", *listen]
    env = env_of(web)
    assert {name: env.get(name) for name in WEB_SERVER_ENV} == WEB_SERVER_ENV
    # A pooled connection per request thread and MCP tool thread, plus one for the relay.
    threads = int(env["WEB_THREADS"] or 0) + int(env["MCP_TOOL_THREADS"] or 0)
    assert int(env["DATABASE_POOL_MAX_SIZE"] or 0) == threads + 1
    # uvicorn trusts X-Forwarded-* from these addresses (it used to be --proxy-headers).
    assert env["FORWARDED_ALLOW_IPS"] == "*"


@variants
def test_each_process_names_itself_to_postgresql(
    renderings: dict[str, Rendering], variant: str
) -> None:
    names = {
        w["metadata"]["name"]: env_of(containers(w)[0])["DATABASE_APPLICATION_NAME"]
        for w in renderings[variant].workloads()
    }
    assert names == {
        "todo-web": "todo-web",
        "todo-recurrence": "todo-recurrence",
        "todo-notifications": "todo-notifications",
        "todo-migrate": "todo-migrate",
    }


@variants
def test_web_cpu_follows_the_process_count(renderings: dict[str, Rendering], variant: str) -> None:
    """The container gets web.resourcesPerProcess once per process, so the HPA's utilisation
    and the CPU limit mean the same at any concurrency."""
    per_process = chart_values(variant)["web"]["resourcesPerProcess"]
    one = containers(renderings[variant].named("Deployment", "todo-web"))[0]["resources"]
    for kind in ("requests", "limits"):
        assert millicores(one[kind]["cpu"]) == millicores(per_process[kind]["cpu"])
    # A single GIL-bound process cannot use more than about one CPU.
    assert millicores(one["limits"]["cpu"]) <= 1000
    # Three times the pooled connections too: a server large enough for them.
    typed = {"web.server.concurrency": "3", "database.maxConnections": "5000"}
    three = containers(render(variant, typed).named("Deployment", "todo-web"))[0]
    env = env_of(three)
    assert env["WEB_CONCURRENCY"] == "3"
    for kind in ("requests", "limits"):
        assert millicores(three["resources"][kind]["cpu"]) == 3 * millicores(one[kind]["cpu"])
        memory = int(three["resources"][kind]["memory"].removesuffix("Mi"))
        assert memory == 3 * int(one[kind]["memory"].removesuffix("Mi"))


@variants
def test_connection_budget_holds_at_full_scale(
    renderings: dict[str, Rendering], variant: str
) -> None:
    values = chart_values(variant)
    database = values["database"]
    held = connections_at_full_scale(renderings[variant], values)
    assert set(held) == {"webapp", "recurrence", "notifications"}
    available = database["maxConnections"] - database["serverReservedConnections"]
    assert sum(held.values()) + database["reserve"] <= available, held


@pytest.mark.parametrize("variant", ["minikube", "aks"])
def test_chart_refuses_a_server_too_small_for_the_budget(variant: str) -> None:
    """The chart's check agrees with the count above to the connection: enough passes, one
    fewer fails and says where the connections go."""
    values = chart_values(variant)
    database = values["database"]
    needed = sum(connections_at_full_scale(render(variant), values).values()) + database["reserve"]
    enough = needed + database["serverReservedConnections"]
    render(variant, {"database.maxConnections": str(enough)})
    with pytest.raises(pytest.fail.Exception) as refused:
        render(variant, {"database.maxConnections": str(enough - 1)})
    message = str(refused.value)
    assert "database connection budget exceeded" in message
    assert f"can hold {needed} PostgreSQL connections" in message
    assert f"server lets it open {needed - 1}" in message
    for part in ("web", "recurrence", "notifications", "reserve", "database.maxConnections"):
        assert part in message


def test_web_pods_consume_no_events(renderings: dict[str, Rendering]) -> None:
    """The web app-id (`webapp`) only publishes. daprd asks an HTTP app for its subscriptions at
    GET /dapr/subscribe: the web app answers none (webapp/probes.py, whatever the Host), no
    subscriber or job handler is registered under `webapp`, and the chart declares no
    Subscription resource."""
    assert registry.subscriptions(app_id="webapp") == []
    assert registry.job_routes(app_id="webapp") == []
    assert probes.dapr_subscribe(RequestFactory().get("/dapr/subscribe")).content == b"[]"
    with pytest.raises(Resolver404):
        resolve("/dapr/subscribe")  # not a route: only the probe middleware answers it
    for app_id in ("recurrence", "notifications"):
        assert registry.subscriptions(app_id=app_id), f"{app_id} subscribes to nothing"
    for variant in ("minikube", "aks"):
        rendering = renderings[variant]
        assert not rendering.of_kind("Subscription")
        web = rendering.named("Deployment", "todo-web")
        annotations = web["spec"]["template"]["metadata"]["annotations"]
        assert (annotations["dapr.io/app-id"], annotations["dapr.io/app-protocol"]) == (
            "webapp",
            "http",
        )


@variants
def test_no_container_has_a_secret_in_a_plain_env_value(
    renderings: dict[str, Rendering], variant: str
) -> None:
    mounted: list[str] = []
    for workload in renderings[variant].workloads():
        mounts = {m["mountPath"] for c in containers(workload) for m in c.get("volumeMounts", [])}
        for container in containers(workload):
            assert "envFrom" not in container, "envFrom would hide what reaches the process"
            for env in container.get("env", []):
                name, value = env["name"], env.get("value")
                if name.endswith("_FILE"):
                    # A *_FILE variable points at a mounted file, never at the secret itself.
                    assert value is not None
                    assert any(value.startswith(m + "/") for m in mounts), (name, value)
                    mounted.append(name)
                    continue
                if name not in NOT_SECRETS:
                    assert not SECRET_NAME.search(name), f"{name}: a secret as a plain value"
                assert "secretKeyRef" not in env.get("valueFrom", {}), name
                if name == "DATABASE_URL":
                    assert value is not None
                    assert not re.search(r"//[^/@]*:[^/@]*@", value), "password in DATABASE_URL"
    # The migration Job reads its two secrets from files (it runs without a sidecar).
    assert sorted(mounted) == ["DATABASE_PASSWORD_FILE", "DJANGO_SECRET_KEY_FILE"]


@variants
def test_app_pods_read_secrets_through_dapr(renderings: dict[str, Rendering], variant: str) -> None:
    for deployment in renderings[variant].of_kind("Deployment"):
        env = {e["name"]: e.get("value") for e in containers(deployment)[0]["env"]}
        assert env["EVENT_RUNTIME"] == "dapr"
        assert env["DAPR_SECRET_STORE"] == "secretstore"
        assert env["DAPR_PUBSUB_NAME"] == "pubsub"


@variants
def test_every_container_has_probes_limits_and_a_restricted_security_context(
    renderings: dict[str, Rendering], variant: str
) -> None:
    for workload in renderings[variant].workloads():
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["tmp"], "a writable /tmp is needed with a read-only root"
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["runAsUser"] >= 10000, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in security["capabilities"], where
            assert security["seccompProfile"]["type"] == "RuntimeDefault", where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert TMP_MOUNT in container["volumeMounts"], where
            if workload["kind"] == "Job":
                continue  # a run-to-completion container has nothing to probe
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            probe_port = container["readinessProbe"]["httpGet"]["port"]
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            expected = 8000 if dapr_app_id(workload) == "webapp" else 9090
            assert ports[probe_port] == expected, where


@variants
def test_migration_job_is_a_hook_that_runs_before_the_deployments(
    renderings: dict[str, Rendering], variant: str
) -> None:
    rendering = renderings[variant]
    job = rendering.named("Job", "todo-migrate")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    # Deployments are not hooks: every pre-install/pre-upgrade hook finishes before them.
    for deployment in rendering.of_kind("Deployment"):
        assert "helm.sh/hook" not in (deployment["metadata"].get("annotations") or {})
    # What the Job needs at hook time is itself a hook, created before it (lower weight).
    job_weight = int(annotations["helm.sh/hook-weight"])
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    hooks = [
        o for o in rendering.objects if "helm.sh/hook" in (o["metadata"].get("annotations") or {})
    ]
    needed = [o for o in hooks if o["kind"] in {"ServiceAccount", "SecretProviderClass"}]
    assert account in {o["metadata"]["name"] for o in needed if o["kind"] == "ServiceAccount"}
    for obj in needed:
        assert int(obj["metadata"]["annotations"]["helm.sh/hook-weight"]) < job_weight
    assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
    assert job["spec"]["template"]["metadata"]["annotations"]["dapr.io/enabled"] == "false"


def test_helm_install_output_orders_the_hook_first() -> None:
    """`helm install --dry-run` prints hooks before resources, in the order Helm runs them."""
    values_files, settings = VARIANTS["aks"]
    output = run(
        [
            tool("helm"),
            "install",
            "todo",
            CHART,
            "--namespace",
            "todo",
            "--dry-run=client",
            *helm_args(values_files, settings),
        ]
    )
    hooks_at = output.index("HOOKS:")
    manifest_at = output.index("MANIFEST:")
    job_at = output.index("kind: Job")
    assert hooks_at < job_at < manifest_at
    assert output.index("kind: Deployment") > manifest_at


def test_autoscaling_and_disruption_budgets_follow_the_issue(
    renderings: dict[str, Rendering],
) -> None:
    for variant in ("default", "aks"):
        hpas = {
            h["metadata"]["name"]: h["spec"]
            for h in renderings[variant].of_kind("HorizontalPodAutoscaler")
        }
        assert (hpas["todo-web"]["minReplicas"], hpas["todo-web"]["maxReplicas"]) == (2, 50)
        scaled = {
            s["metadata"]["name"]: s["spec"] for s in renderings[variant].of_kind("ScaledObject")
        }
        for app_id in WORKER_APP_IDS:
            # CPU without KEDA (values.yaml), consumer lag with it (values-aks.yaml).
            if variant == "aks":
                assert f"todo-{app_id}" not in hpas, "KEDA owns the workers' HPAs"
                keda = scaled[f"todo-{app_id}"]
                bounds = (keda["minReplicaCount"], keda["maxReplicaCount"])
                target = keda["scaleTargetRef"]["name"]
            else:
                spec = hpas[f"todo-{app_id}"]
                bounds = (spec["minReplicas"], spec["maxReplicas"])
                target = spec["scaleTargetRef"]["name"]
            # 12 = the topics' partition count: more consumers than partitions would idle.
            assert bounds == (2, 12)
            assert target == f"todo-{app_id}"
        pdbs = renderings[variant].of_kind("PodDisruptionBudget")
        assert {p["metadata"]["name"] for p in pdbs} == {
            "todo-web",
            "todo-recurrence",
            "todo-notifications",
        }
        assert all(p["spec"]["minAvailable"] >= 1 for p in pdbs)


def test_deployments_leave_replicas_to_the_autoscaler(renderings: dict[str, Rendering]) -> None:
    for deployment in renderings["aks"].of_kind("Deployment"):
        assert "replicas" not in deployment["spec"], "helm upgrade would fight the HPA"


def test_network_policies_deny_by_default_and_admit_only_the_ingress_to_web(
    renderings: dict[str, Rendering],
) -> None:
    for variant in ("default", "minikube", "aks"):
        policies = {
            p["metadata"]["name"]: p["spec"] for p in renderings[variant].of_kind("NetworkPolicy")
        }
        deny = policies["todo-default-deny"]
        assert deny["podSelector"]["matchLabels"] == {"app.kubernetes.io/instance": "todo"}
        assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
        assert "ingress" not in deny and "egress" not in deny
        # Only one policy admits traffic on the app port, and only to the web pods.
        app_port_policies = [
            name
            for name, spec in policies.items()
            for rule in spec.get("ingress", [])
            if {"port": 8000, "protocol": "TCP"} in rule.get("ports", [])
            and name != "todo-metrics-ingress"
        ]
        assert app_port_policies == ["todo-web-ingress"]
        web = policies["todo-web-ingress"]
        assert web["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "web"
        egress_ports = {
            port["port"]
            for rule in policies["todo-egress"]["egress"]
            for port in rule.get("ports", [])
        }
        assert {53, 5432, 50001, 50006} <= egress_ports
        assert egress_ports & {9092, 9093}


def test_ingress_terminates_tls_with_cert_manager_and_hides_internal_paths(
    renderings: dict[str, Rendering],
) -> None:
    ingress = renderings["aks"].named("Ingress", "todo")
    assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    assert ingress["spec"]["tls"][0]["secretName"] == "todo-tls"
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert {"/api", "/admin", "/static", "/mcp"} <= paths
    assert not paths & {"/", "/metrics", "/readyz", "/healthz"}
    assert not renderings["minikube"].of_kind("Ingress")


def test_alerts_cover_the_issue_list(renderings: dict[str, Rendering]) -> None:
    rule = renderings["aks"].named("PrometheusRule", "todo")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "TodoPodCrashLooping",
        "TodoOutboxLag",
        "TodoConsumerLag",
        "TodoDeadLetter",
        "TodoHigh5xxRate",
        "TodoReminderFireLag",
    }
    assert alerts["TodoOutboxLag"]["for"] == alerts["TodoConsumerLag"]["for"] == "5m"
    assert "> 5" in alerts["TodoHigh5xxRate"]["expr"]
    assert "-dlq" in alerts["TodoDeadLetter"]["expr"]
    assert "> 60" in alerts["TodoReminderFireLag"]["expr"]


def test_dashboard_is_valid_grafana_json_with_the_issue_panels(
    renderings: dict[str, Rendering],
) -> None:
    import json

    config_map = renderings["aks"].named("ConfigMap", "todo-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["todo-overview.json"])
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in ("throughput", "lag", "5xx", "fire lag", "cpu", "memory"):
        assert topic in titles or topic.replace("throughput", "published") in titles, topic
    assert all(p["targets"] and p["targets"][0]["expr"] for p in dashboard["panels"])


def test_aks_variant_uses_workload_identity_and_a_pinned_image(
    renderings: dict[str, Rendering],
) -> None:
    rendering = renderings["aks"]
    account = rendering.named("ServiceAccount", "todo")
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    assert account["automountServiceAccountToken"] is False
    for workload in rendering.workloads():
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert labels["azure.workload.identity/use"] == "true"
        for container in containers(workload):
            assert "@sha256:" in container["image"]
            assert container["imagePullPolicy"] == "Always"
    volumes = {v["name"]: v for v in pod_spec(rendering.named("Job", "todo-migrate"))["volumes"]}
    assert volumes["secrets"]["csi"]["driver"] == "secrets-store.csi.k8s.io"


def test_minikube_variant_lets_the_sidecar_read_only_the_app_secrets(
    renderings: dict[str, Rendering],
) -> None:
    role = renderings["minikube"].named("Role", "todo-secret-reader")
    (rule,) = role["rules"]
    assert rule["verbs"] == ["get"]
    assert "django-secret-key" in rule["resourceNames"]
    assert renderings["minikube"].named("RoleBinding", "todo-secret-reader")
    assert not renderings["aks"].of_kind("Role")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("config.extraEnv.API_TOKEN=abc", "looks like a secret"),
        ("config.databaseUrl=postgresql://todo:hunter2@db/todo", "must not carry a password"),
        ("workers.recurrence.autoscaling.maxReplicas=13", "exceeds kafkaPartitions"),
        # values.schema.json: a misspelt key or an unknown choice fails instead of being ignored
        ("web.autoscalling.enabled=false", "additional properties 'autoscalling' not allowed"),
        ("migrations.secretFiles.source=env", "secretFiles/source"),
        ("database.maxConnections=100", "database connection budget exceeded"),
        ("web.resourcesPerProcess.limits.memory=1G", "does not match pattern"),
    ],
)
def test_chart_refuses_unsafe_values(setting: str, message: str) -> None:
    key, value = setting.split("=", 1)
    with pytest.raises(pytest.fail.Exception, match=message):
        render("default", {key: value})


# --- KEDA, Prometheus operator: validated against their CRD models ---------------------------


def crd_model(obj: dict[str, Any]) -> Any:
    from cloudcoil.models.keda import v1alpha1 as keda
    from cloudcoil.models.prometheus_operator import v1 as monitoring

    models = {
        ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
        ("keda.sh/v1alpha1", "TriggerAuthentication"): keda.TriggerAuthentication,
        ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor,
        ("monitoring.coreos.com/v1", "PodMonitor"): monitoring.PodMonitor,
        ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
    }
    return models.get((obj["apiVersion"], obj["kind"]))


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


@variants
def test_keda_and_prometheus_objects_match_their_crd_models(
    renderings: dict[str, Rendering], variant: str
) -> None:
    """The models are generated from the operators' CRDs. They ignore unknown fields, so the
    object must also survive a round trip unchanged: a misspelt or mis-indented field would
    be dropped and show up as a difference."""
    checked = 0
    for obj in renderings[variant].objects:
        model = crd_model(obj)
        if model is None:
            continue
        parsed = model.model_validate(obj)
        dumped = without_nulls(parsed.model_dump(by_alias=True, exclude_none=True, mode="json"))
        assert dumped == obj, f"{obj['kind']}/{obj['metadata']['name']} has fields its CRD lacks"
        checked += 1
    expected = {"default": 3, "minikube": 2, "aks": 6}[variant]
    assert checked == expected, f"{checked} custom resources validated for {variant}"


def test_keda_scales_each_worker_on_the_lag_of_every_topic_it_consumes(
    renderings: dict[str, Rendering],
) -> None:
    for variant in ("minikube", "aks"):
        rendering = renderings[variant]
        partitions = chart_values(variant).get("kafkaPartitions", 12)
        for app_id in WORKER_APP_IDS:
            scaled = rendering.named("ScaledObject", f"todo-{app_id}")["spec"]
            assert scaled["scaleTargetRef"] == {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": f"todo-{app_id}",
            }
            assert scaled["maxReplicaCount"] <= partitions
            assert scaled["minReplicaCount"] >= 1, "jobs fire back on the app-id: keep one"
            triggers = scaled["triggers"]
            assert {t["type"] for t in triggers} == {"kafka"}
            consumed = {s.topic for s in registry.subscriptions(app_id=app_id)}
            assert {t["metadata"]["topic"] for t in triggers} == consumed
            for trigger in triggers:
                # Dapr's Kafka component names the consumer group after the app-id.
                assert trigger["metadata"]["consumerGroup"] == app_id
                assert trigger["metadata"]["allowIdleConsumers"] == "false"
                assert int(trigger["metadata"]["lagThreshold"]) > 0
        aks = rendering if variant == "aks" else renderings["aks"]
        auth = aks.named("TriggerAuthentication", "todo-kafka")["spec"]
        assert auth["azureKeyVault"]["podIdentity"]["provider"] == "azure-workload"
        assert {s["name"] for s in auth["azureKeyVault"]["secrets"]} == {
            "kafka-sasl-username",
            "kafka-sasl-password",
        }
        for trigger in aks.named("ScaledObject", "todo-recurrence")["spec"]["triggers"]:
            assert trigger["metadata"]["tls"] == "enable"
            assert trigger["metadata"]["sasl"] == "scram_sha512"
            assert trigger["authenticationRef"]["name"] == "todo-kafka"


def test_metrics_have_a_port_of_their_own_that_the_ingress_never_routes(
    renderings: dict[str, Rendering],
) -> None:
    for variant in ("default", "minikube", "aks"):
        rendering = renderings[variant]
        web = rendering.named("Deployment", "todo-web")
        (container,) = containers(web)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert env_of(container)["METRICS_PORT"] == str(ports["metrics"])
        assert ports["metrics"] != ports["http"]
        service = rendering.named("Service", "todo-web")
        by_name = {p["name"]: p for p in service["spec"]["ports"]}
        assert by_name["metrics"]["targetPort"] == "metrics"
        for ingress in rendering.of_kind("Ingress"):
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    assert (
                        backend["port"] == {"name": "http"}
                        or backend["port"].get("number") == by_name["http"]["port"]
                    ), backend


# --- NetworkPolicy: who may talk to whom ------------------------------------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels
        value = labels.get(expression["key"])
        match expression["operator"]:
            case "In":
                ok = value in expression["values"]
            case "NotIn":
                ok = value not in expression["values"]
            case "Exists":
                ok = present
            case _:
                ok = not present
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Peer:
    """A pod or address at the other end: its namespace, its labels, or an IP."""

    namespace: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    ip: str = ""


def peer_matches(rule_peer: dict[str, Any], peer: Peer, own_namespace: str) -> bool:
    if "ipBlock" in rule_peer:
        if not peer.ip:
            return False
        block = rule_peer["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(c) for c in block.get("except", [])
        )
    if peer.ip:
        return False
    namespace_labels = {"kubernetes.io/metadata.name": peer.namespace}
    if "namespaceSelector" in rule_peer:
        if not selects(rule_peer["namespaceSelector"], namespace_labels):
            return False
    elif peer.namespace != own_namespace:
        return False
    return selects(rule_peer.get("podSelector", {}), dict(peer.labels))


def port_matches(ports: list[dict[str, Any]] | None, port: int) -> bool:
    return not ports or any(
        p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports
    )


def allowed(
    rendering: Rendering, direction: str, pod: dict[str, str], peer: Peer, port: int
) -> bool:
    """Whether the rendered policies let `pod` (labels, in the release namespace) send to
    (Egress) or receive from (Ingress) `peer` on TCP `port`. A pod no policy of that direction
    selects is open; once one selects it, some rule must allow the traffic."""
    key = "egress" if direction == "Egress" else "ingress"
    other = "to" if direction == "Egress" else "from"
    selecting = [
        p["spec"]
        for p in rendering.of_kind("NetworkPolicy")
        if direction in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod)
    ]
    if not selecting:
        return True
    for spec in selecting:
        for rule in spec.get(key, []):
            peers = rule.get(other)
            peer_ok = not peers or any(peer_matches(r, peer, "todo") for r in peers)
            if peer_ok and port_matches(rule.get("ports"), port):
                return True
    return False


def pod_labels(rendering: Rendering, deployment: str) -> dict[str, str]:
    labels: dict[str, str] = rendering.named("Deployment", deployment)["spec"]["template"][
        "metadata"
    ]["labels"]
    return labels


@pytest.mark.parametrize("variant", ["minikube", "aks"])
def test_network_policies_allow_exactly_the_paths_the_platform_uses(
    renderings: dict[str, Rendering], variant: str
) -> None:
    rendering = renderings[variant]
    values = chart_values(variant)
    policy = values["networkPolicy"]
    web = pod_labels(rendering, "todo-web")
    workers = [pod_labels(rendering, f"todo-{a}") for a in sorted(WORKER_APP_IDS)]
    if policy["postgres"]["cidrs"]:
        postgres = Peer(ip=str(ipaddress.ip_network(policy["postgres"]["cidrs"][0])[4]))
    else:
        postgres = Peer(namespace=policy["postgres"]["namespace"])
    if policy["kafka"]["cidrs"]:
        kafka = Peer(ip=str(ipaddress.ip_network(policy["kafka"]["cidrs"][0])[4]))
    else:
        kafka = Peer(namespace=policy["kafka"]["namespace"])
    kafka_port = policy["kafka"]["ports"][0]
    dapr_system = Peer(namespace="dapr-system", labels=(("app", "dapr-sentry"),))
    prometheus = Peer(namespace="monitoring", labels=(("app", "prometheus"),))
    ingress = Peer(namespace="ingress-nginx", labels=(("app", "ingress-nginx"),))
    stranger = Peer(namespace="default", labels=(("app", "curl"),))
    http_port = values["web"]["port"]
    metrics_port = values["web"]["metricsPort"]

    for pod in (web, *workers):
        assert allowed(rendering, "Egress", pod, postgres, 5432)
        # The sidecar reaches sentry (mTLS certificates), the scheduler and the operator.
        for port in (50001, 50006, 6500):
            assert allowed(rendering, "Egress", pod, dapr_system, port)
        assert allowed(rendering, "Ingress", pod, prometheus, values["dapr"]["metricsPort"])
        assert not allowed(rendering, "Ingress", pod, stranger, http_port)
    for pod in workers:
        # The workers' sidecars consume from the broker.
        assert allowed(rendering, "Egress", pod, kafka, kafka_port)
        assert allowed(rendering, "Ingress", pod, prometheus, values["workers"]["httpPort"])
        assert not allowed(rendering, "Ingress", pod, ingress, values["workers"]["grpcPort"])
    # The web pod's sidecar publishes what the outbox relay hands it: it needs the broker too.
    assert allowed(rendering, "Egress", web, kafka, kafka_port)
    assert allowed(rendering, "Ingress", web, ingress, http_port)
    assert allowed(rendering, "Ingress", web, prometheus, metrics_port)
    # The metrics port is for Prometheus only, and Prometheus gets nothing but metrics.
    assert not allowed(rendering, "Ingress", web, ingress, metrics_port)
    assert not allowed(rendering, "Ingress", web, prometheus, http_port)
    assert not allowed(rendering, "Egress", web, stranger, 5432)
    assert not allowed(rendering, "Egress", web, Peer(ip="203.0.113.9"), 5432)
