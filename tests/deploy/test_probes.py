"""Every rendered container answers the cluster's callers as they really call it.

For each Deployment of the Minikube and AKS renderings, the container's command is started with
the environment the chart gives it (the database pointed at the test's PostgreSQL, daprd
replaced by the fake sidecar), and then called the way the cluster calls a pod:

- the kubelet: each probe's path on its port, `Host: <pod IP>:<container port>`, plain http,
  `User-Agent: kube-probe/<version>`; success is a status in 200-399;
- Prometheus: each ServiceMonitor endpoint on the Service port it names, at the pod IP;
- daprd: `GET /dapr/subscribe` and `/dapr/config` on the app port of an HTTP app, at
  `127.0.0.1:<app port>`.

Container ports are remapped to free local ports; the Host header keeps the rendered port.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from tests.deploy.conftest import ROOT, Rendering, render
from tests.fakes.dapr_sidecar import FakeDaprSidecar, free_port

POD_IP = "10.244.3.17"
KUBE_PROBE = "kube-probe/1.33"
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")
CASES = [
    (variant, deployment)
    for variant in ("minikube", "aks")
    for deployment in ("todo-web", "todo-recurrence", "todo-notifications")
]


@pytest.fixture(autouse=True)
def _committed_db(transactional_db: None) -> None:
    """These tests start the app against the test database (conftest's no-op is for the rest)."""


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendering]:
    # The Minikube values turn the ServiceMonitor off (no Prometheus operator there): render it
    # anyway so its endpoints are checked against the Minikube pods too.
    return {
        "minikube": render("minikube", {"monitoring.serviceMonitor.enabled": "true"}),
        "aks": render("aks"),
    }


@dataclass
class Pod:
    container: dict[str, Any]
    annotations: dict[str, str]
    labels: dict[str, str]
    local_port: dict[int, int]  # container port -> where the test's process listens
    process: subprocess.Popen[bytes]
    log: Path

    def container_port(self, port: int | str) -> int:
        if isinstance(port, int):
            return port
        for declared in self.container.get("ports", []):
            if declared["name"] == port:
                return int(declared["containerPort"])
        raise AssertionError(f"container {self.container['name']} has no port named {port}")

    def get(self, port: int, path: str, *, host: str, user_agent: str = "curl/8") -> int:
        """GET `path` on container port `port` with exactly this Host header."""
        conn = http.client.HTTPConnection("127.0.0.1", self.local_port[port], timeout=10)
        try:
            conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", host)
            conn.putheader("User-Agent", user_agent)
            conn.putheader("Accept", "*/*")
            conn.endheaders()
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def app_database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def container_env(container: dict[str, Any], ports: dict[int, int]) -> dict[str, str]:
    """The container's rendered env, with its port numbers moved to the test's free ports."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            value = str(item["value"])
            env[item["name"]] = str(ports.get(int(value), value)) if value.isdigit() else value
        elif item.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[item["name"]] = "todo-pod-0"
        else:
            raise AssertionError(f"no test value for {item}")
    return env


def command(container: dict[str, Any], ports: dict[int, int]) -> list[str]:
    args = [str(arg) for arg in container["command"] + container.get("args", [])]
    assert args[:2] == ["python", "manage.py"], args
    return [
        sys.executable,
        "manage.py",
        *(str(ports.get(int(a), a)) if a.isdigit() else a for a in args[2:]),
    ]


@pytest.fixture
def pod(
    request: pytest.FixtureRequest,
    rendered: dict[str, Rendering],
    dapr_sidecar: FakeDaprSidecar,
    tmp_path: Path,
) -> Iterator[Pod]:
    variant, name = request.param
    deployment = rendered[variant].named("Deployment", name)
    template = deployment["spec"]["template"]
    (container,) = template["spec"]["containers"]
    ports = {int(p["containerPort"]): free_port() for p in container["ports"]}
    dapr_sidecar.secrets = {"secretstore": {"django-secret-key": "k" * 50}}
    env = {
        **os.environ,
        **container_env(container, ports),
        "DATABASE_URL": app_database_url(),
        "VAR_DIR": str(tmp_path / "var"),
        "TMPDIR": str(tmp_path),
    }
    env.pop("TODO_EMBEDDED", None)  # the distributed shape: secrets come from Dapr
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # manage.py makes one under VAR_DIR for `web`
    log = tmp_path / "process.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our interpreter and the rendered command
            command(container, ports), cwd=ROOT, env=env, stdout=out, stderr=out
        )
    started = Pod(
        container,
        template["metadata"]["annotations"],
        template["metadata"]["labels"],
        ports,
        process,
        log,
    )
    try:
        yield started
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def kubelet_get(pod: Pod, probe: dict[str, Any]) -> int:
    action = probe["httpGet"]
    assert action.get("scheme", "HTTP") == "HTTP"
    port = pod.container_port(action["port"])
    host = f"{POD_IP}:{port}"
    for header in action.get("httpHeaders", []):
        if header["name"].lower() == "host":
            host = header["value"]
    return pod.get(port, action["path"], host=host, user_agent=KUBE_PROBE)


def wait_until_started(pod: Pod, probe: dict[str, Any]) -> None:
    """As the kubelet does: repeat the startup probe until it succeeds (bounded)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert pod.process.poll() is None, f"the process exited:\n{pod.output()}"
        try:
            if 200 <= kubelet_get(pod, probe) < 400:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.3)  # polling a child process start-up, not test logic
    raise AssertionError(f"the startup probe never passed:\n{pod.output()}")


def scrape_targets(rendering: Rendering, pod: Pod) -> list[tuple[int, str]]:
    """(container port, path) of every ServiceMonitor endpoint that lands on this pod."""
    targets = []
    for monitor in rendering.of_kind("ServiceMonitor"):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        for service in rendering.of_kind("Service"):
            labels = service["metadata"].get("labels", {})
            selector = service["spec"]["selector"]
            if any(labels.get(k) != v for k, v in wanted.items()):
                continue
            if any(pod.labels.get(k) != v for k, v in selector.items()):
                continue
            by_name = {p["name"]: p for p in service["spec"]["ports"]}
            for endpoint in monitor["spec"]["endpoints"]:
                port = by_name.get(endpoint["port"])
                if port is None:
                    continue
                target = pod_port(pod, port["targetPort"])
                if target is not None:  # else a sidecar's port (daprd's metrics)
                    targets.append((target, endpoint.get("path", "/metrics")))
    return targets


def pod_port(pod: Pod, target: int | str) -> int | None:
    try:
        port = pod.container_port(target)
    except AssertionError:
        return None
    return port if port in pod.local_port else None


@pytest.mark.slow
@pytest.mark.parametrize("pod", CASES, indirect=True, ids=[f"{v}-{d}" for v, d in CASES])
def test_the_cluster_reaches_every_container_at_its_pod_address(
    pod: Pod, rendered: dict[str, Rendering], request: pytest.FixtureRequest
) -> None:
    variant = request.node.callspec.params["pod"][0]
    probes = {kind: pod.container[kind] for kind in PROBES if kind in pod.container}
    assert set(probes) == set(PROBES)
    wait_until_started(pod, probes["startupProbe"])

    answers = {kind: kubelet_get(pod, probe) for kind, probe in probes.items()}
    assert answers == dict.fromkeys(PROBES, 200), pod.output()

    targets = scrape_targets(rendered[variant], pod)
    assert targets, "no ServiceMonitor endpoint scrapes this pod"
    for port, path in targets:
        assert pod.get(port, path, host=f"{POD_IP}:{port}", user_agent="Prometheus/3") == 200

    if pod.annotations["dapr.io/app-protocol"] == "http":
        app_port = int(pod.annotations["dapr.io/app-port"])
        for path in ("/dapr/subscribe", "/dapr/config"):
            status = pod.get(app_port, path, host=f"127.0.0.1:{app_port}", user_agent="Go")
            assert status == 200, f"daprd's {path}: {status}"


@pytest.mark.slow
@pytest.mark.parametrize("pod", [("aks", "todo-web")], indirect=True, ids=["aks-todo-web"])
def test_the_public_port_keeps_strict_hosts_and_does_not_serve_metrics(
    pod: Pod, rendered: dict[str, Rendering]
) -> None:
    probes = pod.container
    wait_until_started(pod, probes["startupProbe"])
    app_port = pod.container_port("http")
    public = rendered["aks"].named("Ingress", "todo")["spec"]["rules"][0]["host"]

    assert pod.get(app_port, "/api/schema/", host=public) == 200
    assert pod.get(app_port, "/api/schema/", host=f"{POD_IP}:{app_port}") == 400
    assert pod.get(app_port, "/metrics", host=public) == 404
    metrics_port = pod.container_port("metrics")
    assert pod.get(metrics_port, "/metrics", host=f"{POD_IP}:{metrics_port}") == 200
