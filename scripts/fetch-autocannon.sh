#!/usr/bin/env bash
# Puts the autocannon load generator (npm) under .tools/autocannon for bench/api_load.py, which
# drives it through bench/load.js. Idempotent: does nothing when the pinned version is there.
set -euo pipefail

PACKAGE="autocannon"
PACKAGE_VERSION="8.0.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${TOOLS_DIR:-${root}/.tools}"
prefix="${tools}/autocannon"
stamp="${prefix}/.installed-${PACKAGE_VERSION}"

if [[ -f "${stamp}" ]]; then
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-autocannon: npm is required" >&2; exit 1; }

echo "fetch-autocannon: ${PACKAGE}@${PACKAGE_VERSION} -> ${prefix}"
rm -rf "${prefix}"
mkdir -p "${prefix}"
# A package.json of its own keeps npm from climbing up into the project looking for one.
printf '{"name": "todo-tools-autocannon", "private": true}\n' >"${prefix}/package.json"
npm install --silent --no-audit --no-fund --no-package-lock --prefix "${prefix}" \
  "${PACKAGE}@${PACKAGE_VERSION}" >/dev/null
touch "${stamp}"
