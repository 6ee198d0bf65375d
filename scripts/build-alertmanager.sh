#!/usr/bin/env bash
# Build Alertmanager and amtool from the Go module, cached by version. Prints the folder
# holding the two binaries (alertmanager, amtool).
#
#   ${PROMKIT_CACHE}/alertmanager-<version>/   alertmanager and amtool
#
# `go install` builds them with the web UI embedded (the module ships its built assets).
# Only when that build fails, Debian's prometheus-alertmanager package (0.25 on Debian 13) is
# installed instead and its folder printed, with a line on stderr saying it is the fallback;
# PROMKIT_ALERTMANAGER_NO_FALLBACK=1 makes a failed build fail instead.
set -euo pipefail
version="${ALERTMANAGER_VERSION:-0.35.0}"
cache_root="${PROMKIT_CACHE:-/var/cache/promkit}"
cache="${cache_root}/alertmanager-${version}"
fallback="${cache_root}/alertmanager-debian"
module="github.com/prometheus/alertmanager"

log() { echo "build-alertmanager: $*" >&2; }

build() {
  log "building Alertmanager ${version} and amtool from ${module}@v${version} into ${cache}"
  rm -rf "${cache}.partial" && mkdir -p "${cache}.partial"
  # The version is stamped as upstream's release builds do (shown by --version and in
  # /api/v2/status), which `go install` alone leaves empty.
  GOBIN="${cache}.partial" CGO_ENABLED=0 GOFLAGS=-mod=mod go install \
    -ldflags "-X github.com/prometheus/common/version.Version=${version} -X github.com/prometheus/common/version.Branch=go-module" \
    "${module}/cmd/alertmanager@v${version}" "${module}/cmd/amtool@v${version}" >&2
  rm -rf "${cache}" && mv "${cache}.partial" "${cache}"
}

debian_fallback() {
  log "FALLBACK: the Go build of Alertmanager ${version} failed; using Debian's prometheus-alertmanager instead"
  if ! dpkg-query -W -f='${Status}' prometheus-alertmanager 2>/dev/null | grep -q "install ok installed"; then
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    # Its service is not used (tests start their own processes): a policy-rc.d keeps it
    # from starting, for this install only unless the machine has one of its own.
    local policy=/usr/sbin/policy-rc.d own=0 status=0
    if [[ ! -e "${policy}" ]]; then
      printf '#!/bin/sh\nexit 101\n' >"${policy}" && chmod 0755 "${policy}" && own=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends \
      prometheus-alertmanager >&2 || status=$?
    [[ "${own}" = 1 ]] && rm -f "${policy}"
    [[ "${status}" = 0 ]] || return "${status}"
  fi
  mkdir -p "${fallback}"
  ln -sf /usr/bin/prometheus-alertmanager "${fallback}/alertmanager"
  ln -sf /usr/bin/amtool "${fallback}/amtool"
  log "FALLBACK: $("${fallback}/alertmanager" --version 2>&1 | head -n 1) (not ${version})"
  echo "${fallback}"
}

if [[ -x "${cache}/alertmanager" && -x "${cache}/amtool" ]]; then
  echo "${cache}"
elif build; then
  echo "${cache}"
elif [[ "${PROMKIT_ALERTMANAGER_NO_FALLBACK:-0}" = 1 ]]; then
  log "the Go build failed (PROMKIT_ALERTMANAGER_NO_FALLBACK=1: no fallback)"
  exit 1
else
  debian_fallback
fi
