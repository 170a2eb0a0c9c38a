"""The container image definition: one multi-stage image that runs every process."""

from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from django.core.management import get_commands, load_command_class

from tests.deploy.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
# The one writable path in the container (an emptyDir in Kubernetes), not a temp file here.
WRITABLE = "/tmp"  # noqa: S108


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                values[key] = value
        return values


def parse() -> list[Stage]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 else ""))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages


def test_image_is_multi_stage_on_slim_python_311() -> None:
    stages = parse()
    assert [s.name for s in stages] == ["builder", "runtime"]
    for stage in stages:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", stage.base), stage.base
    assert stages[0].base == stages[1].base, "the venv only works on the same Python"


def test_builder_installs_the_project_non_editable_into_a_venv() -> None:
    builder = parse()[0]
    runs = " ".join(builder.all("RUN"))
    assert "python -m venv /opt/venv" in runs
    assert re.search(r"pip install (--no-deps )?\.(\s|$)", runs)
    assert "pip install -e" not in runs and "--editable" not in runs
    assert "build-essential" in runs


def test_final_stage_has_no_build_tools_and_runs_as_uid_10001() -> None:
    runtime = parse()[-1]
    runs = " ".join(runtime.all("RUN"))
    assert "apt-get install" not in runs and "pip install" not in runs
    assert runtime.all("USER") == ["10001:10001"]
    assert any(args.startswith("--from=builder /opt/venv ") for args in runtime.all("COPY"))
    assert runtime.all("WORKDIR") == ["/app"]


def test_final_stage_writes_only_under_tmp() -> None:
    env = parse()[-1].env()
    assert env["HOME"] == WRITABLE
    assert env["XDG_RUNTIME_DIR"] == WRITABLE
    assert env["VAR_DIR"].startswith(WRITABLE + "/")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_default_command_is_the_web_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """`manage.py web` with its defaults: all interfaces, port 8000 (which EXPOSE and the
    HEALTHCHECK name), proxy headers honoured only from FORWARDED_ALLOW_IPS."""
    runtime = parse()[-1]
    (cmd,) = runtime.all("CMD")
    command = json.loads(cmd)
    assert command == ["python", "manage.py", "web"]
    assert "web" in get_commands()
    for name in ("HOST", "PORT"):
        assert name not in runtime.env(), f"{name} in the image would override the default"
        monkeypatch.delenv(name, raising=False)
    parser = load_command_class(get_commands()["web"], "web").create_parser("manage.py", "web")
    options = parser.parse_args([])
    assert (options.host, options.port) == ("0.0.0.0", 8000)  # noqa: S104
    assert "8000" in runtime.all("EXPOSE")[0].split()
    # What `uvicorn --proxy-headers` asked for is uvicorn's default (webapp/server.py leaves it),
    # trusting the addresses in FORWARDED_ALLOW_IPS.
    assert inspect.signature(uvicorn.Config).parameters["proxy_headers"].default is True


def test_healthcheck_is_valid_python_probing_web_and_worker_ports() -> None:
    (healthcheck,) = parse()[-1].all("HEALTHCHECK")
    exec_form = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert exec_form[:2] == ["python", "-c"]
    code = exec_form[2]
    compile(code, "HEALTHCHECK", "exec")
    assert "8000" in code and "9090" in code and "/healthz" in code
    # Nothing listens here, so it must exit 1 rather than hang or crash differently.
    result = subprocess.run(  # noqa: S603 - the image's own probe, run with this Python
        [sys.executable, "-c", code], capture_output=True, timeout=30
    )
    assert result.returncode == 1


def test_static_files_are_collected_from_the_installed_package(tmp_path: Path) -> None:
    """collectstatic runs at build time with placeholder settings, outside the source tree so
    STATIC_ROOT falls inside the venv that the final stage copies."""
    builder = parse()[0]
    (collect,) = [r for r in builder.all("RUN") if "collectstatic" in r]
    workdirs = [args for kw, args in builder.instructions if kw in {"WORKDIR", "RUN"}]
    assert workdirs[workdirs.index(collect) - 1] == "/", "must not run inside /src"
    command = "python -m django collectstatic"
    assert command in collect
    assignments = dict(re.findall(r"(\w+)=(\S+)", collect.split(command)[0]))
    assert assignments["TODO_EMBEDDED"] == "true"
    assert assignments["DJANGO_SETTINGS_MODULE"] == "webapp.settings"
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "EVENT_RUNTIME"}},
        **assignments,
        "VAR_DIR": str(tmp_path / "var"),
        # Stands in for site-packages: the project importable from outside its folder.
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-m", "django", "collectstatic", "--noinput", "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "static file" in result.stdout  # e.g. "140 static files copied ... (dry run)"


def test_dockerignore_admits_every_packaged_app_and_nothing_local() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "start from nothing, then admit what the image needs"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    includes = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in includes}
    on_disk = {p for p in packages if (ROOT / p / "__init__.py").exists()}
    assert on_disk, "no packaged app found"
    assert on_disk <= admitted, f"packages left out of the image: {on_disk - admitted}"
    assert {"pyproject.toml", "manage.py", pyproject["project"]["readme"]} <= admitted
    assert not admitted & {".venv", ".tools", "var", "tests", ".git"}
