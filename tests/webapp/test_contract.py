"""The API keeps its OpenAPI contract: schemathesis with every check, stateful phase included.

Runs the `st` command line against `manage.py serve` (its own embedded database), as the
contract would be checked against a deployment: examples, coverage, fuzzing and stateful
phases, deterministic generation, a registered user's token. schemathesis.toml lists the few
operations whose rules a schema cannot state (the clock, stored state) and why.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.webapp.test_serve import ROOT, serving
from tests.webapp.test_serving import call

EXAMPLES_PER_OPERATION = 60


@pytest.mark.slow
def test_the_api_passes_every_schemathesis_check(tmp_path: Path) -> None:
    with serving(
        tmp_path, API_THROTTLE_USER="off", API_THROTTLE_AUTH="off", LOG_LEVEL="ERROR"
    ) as base:
        account = {"username": "contract", "password": "correct-horse-battery"}
        call(f"{base}/api/v1/auth/register/", method="POST", body={**account, "email": "c@x.io"})
        _, _, pair = call(f"{base}/api/v1/auth/token/", method="POST", body=account)

        result = subprocess.run(  # noqa: S603
            [
                str(Path(sys.executable).parent / "st"),
                "--config-file",
                str(ROOT / "schemathesis.toml"),
                "run",
                f"{base}/api/schema/?format=json",
                "--checks",
                "all",
                "--generation-deterministic",
                "--max-examples",
                str(EXAMPLES_PER_OPERATION),
                "--header",
                f"Authorization: Bearer {pair['access']}",
                "--no-color",
            ],
            cwd=tmp_path,  # its cache goes here, not into the project
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in result.stdout, summary
