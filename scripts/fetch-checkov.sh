#!/usr/bin/env bash
# Installs checkov into its own virtualenv under .tools/: its pinned dependencies clash with the
# application's, so it must not share .venv. Idempotent: does nothing when already installed.
set -euo pipefail

CHECKOV_VERSION="3.3.30"
PYTHON="${PYTHON:-python3.11}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${TOOLS_DIR:-${root}/.tools}"
venv="${tools}/checkov-venv"
stamp="${venv}/.installed-${CHECKOV_VERSION}"

if [[ -x "${venv}/bin/checkov" && -f "${stamp}" ]]; then
  exit 0
fi

echo "fetch-checkov: checkov==${CHECKOV_VERSION} -> ${venv}"
"${PYTHON}" -m venv "${venv}"
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
  "checkov==${CHECKOV_VERSION}"
rm -f "${venv}"/.installed-*
touch "${stamp}"
