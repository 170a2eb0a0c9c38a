#!/usr/bin/env bash
# Installs the browser the web app's browser tests drive: Debian's chromium and chromium-driver
# (the driver matches the browser by construction, so nothing is downloaded at test time).
# Idempotent: does nothing when both are there (CHROMIUM_BINARY and CHROMEDRIVER may name
# another Chromium and its driver). Installs with apt-get as root or through passwordless sudo;
# otherwise it says so, and the browser tests skip, except under CI=true, where this fails instead.
set -euo pipefail

CHROMIUM="${CHROMIUM_BINARY:-/usr/bin/chromium}"
CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

if [[ -x "${CHROMIUM}" && -x "${CHROMEDRIVER}" ]]; then
  exit 0
fi

case "${CI:-}" in
  1 | true | TRUE | True | yes) ci=1 ;;
  *) ci=0 ;;
esac

if command -v apt-get >/dev/null; then
  as_root=()
  if [[ "$(id -u)" -ne 0 ]] && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  fi
  if [[ "$(id -u)" -eq 0 || ${#as_root[@]} -gt 0 ]]; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium chromium-driver
    exit 0
  fi
fi

message="install-browser: ${CHROMIUM} or ${CHROMEDRIVER} is missing; as root on Debian run: apt-get install chromium chromium-driver"
if [[ "${ci}" -eq 1 ]]; then
  echo "${message}" >&2
  exit 1
fi
echo "${message} (the browser tests will be skipped)" >&2
