"""What the GitHub workflows promise: CI runs the project's own checks; deploy builds, pushes,
upgrades with automatic rollback, smoke-tests and rolls back; images are scanned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def triggers(spec: dict[Any, Any]) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as the boolean True.
    on: dict[str, Any] = spec.get("on") or spec[True]
    return on


def steps(spec: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    """A job's steps; none for a job that calls a reusable workflow (`uses:`)."""
    found: list[dict[str, Any]] = spec["jobs"][job].get("steps", [])
    return found


def test_ci_runs_lint_type_check_and_tests_as_developers_do() -> None:
    spec = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(triggers(spec))
    commands = {job: " ".join(s.get("run", "") for s in steps(spec, job)) for job in spec["jobs"]}
    assert spec["jobs"]["deploy"]["uses"].startswith("./"), "a local workflow, pinned by the commit"
    assert "make lint" in commands["lint"]
    assert "make typecheck" in commands["typecheck"]
    assert "make pytest" in commands["test"]
    assert spec["jobs"]["test"]["env"]["CI"] == "true", "missing tools must fail, not skip"
    assert spec["permissions"] == {"contents": "read"}


def test_deploy_runs_only_after_every_check_passed_on_main_or_develop() -> None:
    ci = workflow("ci.yml")
    deploy_job = ci["jobs"]["deploy"]
    assert deploy_job["uses"] == "./.github/workflows/deploy.yml"
    assert set(deploy_job["needs"]) == {"lint", "typecheck", "test"}
    assert "github.event_name == 'push'" in deploy_job["if"]
    assert "'main'" in deploy_job["if"] and "'develop'" in deploy_job["if"]
    assert deploy_job["permissions"]["id-token"] == "write"
    # Nothing else can start a deploy, and a newer push never cancels one under way.
    assert set(triggers(workflow("deploy.yml"))) == {"workflow_call"}
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_deploy_sends_main_to_production_and_develop_to_staging() -> None:
    spec = workflow("deploy.yml")
    environment = spec["jobs"]["deploy"]["environment"]["name"]
    assert environment == "${{ github.ref_name == 'main' && 'production' || 'staging' }}"
    # OpenID Connect to Azure: no stored cloud credential.
    assert spec["permissions"]["id-token"] == "write"
    login = next(s for s in steps(spec, "deploy") if s.get("uses", "").startswith("azure/login"))
    assert "client-secret" not in login["with"] and "creds" not in login["with"]


def test_deploy_pushes_to_acr_and_installs_the_pushed_digest() -> None:
    deploy = steps(workflow("deploy.yml"), "deploy")
    build = next(s for s in deploy if s.get("id") == "image")
    assert "az acr login" in build["run"] and "--push" in build["run"]
    upgrade = next(s for s in deploy if "helm upgrade" in s.get("run", ""))
    command = upgrade["run"]
    for flag in ("--install", "--rollback-on-failure", "--wait", "values-aks.yaml"):
        assert flag in command, flag
    assert "image.digest" in command
    assert upgrade["env"]["DIGEST"] == "${{ steps.image.outputs.digest }}"


def test_deploy_smoke_tests_through_the_ingress_host_and_rolls_back_when_it_fails() -> None:
    deploy = steps(workflow("deploy.yml"), "deploy")
    names = [s.get("name", "") for s in deploy]
    smoke = next(s for s in deploy if s.get("id") == "smoke")
    assert "/readyz" in smoke["run"] and "--fail" in smoke["run"]
    # The Host the ingress serves (ALLOWED_HOSTS), reached through the ingress controller.
    assert '--resolve "${PUBLIC_HOST}:443:' in smoke["run"]
    assert "https://${PUBLIC_HOST}/" in smoke["run"]
    assert "port-forward" not in smoke["run"]
    rollback = next(s for s in deploy if s.get("name") == "Roll back after a failed smoke test")
    assert names.index(rollback["name"]) > names.index(smoke["name"])
    assert rollback["if"] == "failure() && steps.smoke.outcome == 'failure'"
    previous = next(s for s in deploy if s.get("id") == "previous")
    assert names.index(previous["name"]) < names.index(smoke["name"])
    assert rollback["env"]["PREVIOUS"] == "${{ steps.previous.outputs.revision }}"
    # A previous revision: return to it. A first install: nothing to return to, uninstall.
    assert 'helm rollback "$RELEASE" "$PREVIOUS"' in rollback["run"]
    assert "helm uninstall" in rollback["run"]
    assert rollback["run"].rstrip().endswith("exit 1")


def test_deploy_opens_the_api_server_to_its_runner_only_for_the_job() -> None:
    deploy = steps(workflow("deploy.yml"), "deploy")
    names = [s.get("name", "") for s in deploy]
    opened = next(s for s in deploy if s.get("id") == "api_access")
    credentials = names.index("Cluster credentials")
    assert names.index(opened["name"]) < credentials
    assert "--api-server-authorized-ip-ranges" in opened["run"]
    closed = deploy[-1]
    assert closed["if"] == "always() && steps.api_access.outcome == 'success'"
    assert closed["env"]["ORIGINAL"] == "${{ steps.api_access.outputs.original }}"
    assert 'test -n "$ORIGINAL"' in closed["run"]


def test_deploy_uses_the_helm_version_the_tests_validate_with() -> None:
    deploy = steps(workflow("deploy.yml"), "deploy")
    setup = next(s for s in deploy if s.get("uses", "").startswith("azure/setup-helm"))
    pinned = (ROOT / "scripts" / "fetch-helm.sh").read_text()
    assert f'HELM_VERSION="{setup["with"]["version"]}"' in pinned


def test_image_scan_runs_weekly_and_on_dockerfile_changes() -> None:
    spec = workflow("image-scan.yml")
    on = triggers(spec)
    assert on["schedule"][0]["cron"]
    assert "Dockerfile" in on["pull_request"]["paths"]
    scan = steps(spec, "scan")
    trivy = next(s for s in scan if s.get("uses", "").startswith("aquasecurity/trivy-action"))
    assert trivy["with"]["exit-code"] == "1"
    assert "CRITICAL" in trivy["with"]["severity"]


def test_every_workflow_pins_its_actions_to_a_version() -> None:
    for path in sorted(Path(WORKFLOWS).glob("*.yml")):
        spec = workflow(path.name)
        for job in spec["jobs"]:
            for step in steps(spec, job):
                if "uses" in step:
                    assert "@" in step["uses"], f"{path.name}: {step['uses']} is not pinned"
                    assert not step["uses"].endswith(("@main", "@master")), step["uses"]
