#!/usr/bin/env bash
# Build Alertmanager and amtool from the Go module, cached by version. Prints the folder
# holding the two binaries (alertmanager, amtool).
#
#   ${PROMKIT_CACHE}/alertmanager-<version>/   alertmanager and amtool
#
# Built from the module's source with `go build` (as `go install ...@v0.35.0` would, plus
# the web UI the module's zip leaves out: see build_ui).
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

# A writable copy of the module's source (the module cache is read-only).
module_source() {  # dest
  local dir
  dir="$(GOFLAGS=-mod=mod go mod download -json "${module}@v${version}" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "${dir}" ]] || { log "go mod download ${module}@v${version} gave no folder"; return 1; }
  rm -rf "$1" && mkdir -p "$(dirname "$1")" && cp -r "${dir}" "$1" && chmod -R u+w "$1"
}

# The module's zip leaves out the built web UI (ui/app/dist, which ui/web.go embeds and
# serves gzipped): the new (mantine) UI, served at /ui/, is built with npm and vite as
# upstream's `make ui-mantine-assets` does. The old Elm UI at / is not: the npm package
# `elm` downloads its compiler from outside the registries; / holds a page linking to /ui/.
# ALERTMANAGER_UI=none skips npm (both pages then say the UI was not built).
page() {  # file text: a small HTML page, gzipped as web.go serves it
  printf '<!doctype html><title>Alertmanager</title><p>%s\n' "$2" >"$1" && gzip -9f "$1"
}

# The registry here lacks the tarball the lockfile pins for @mantine/code-highlight
# (9.7.x: 404, 9.6.2 is served), as for Prometheus' UI: pin that one package.
pin_unserved_packages() {  # package.json
  node -e 'const fs = require("fs"); const p = JSON.parse(fs.readFileSync(process.argv[1]));
    p.dependencies["@mantine/code-highlight"] = "9.6.2";
    p.overrides = {...(p.overrides || {}), "@mantine/code-highlight": "9.6.2"};
    fs.writeFileSync(process.argv[1], JSON.stringify(p, null, 2) + "\n");' "$1"
}

build_ui() {  # source dir
  local app="$1/ui/app" ui="$1/ui/mantine-ui"
  mkdir -p "${app}/dist/elm" "${app}/dist/mantine"
  if [[ "${ALERTMANAGER_UI:-mantine}" = mantine ]]; then
    log "building the web UI (ui/mantine-ui: npm install, vite build)"
    pin_unserved_packages "${ui}/package.json"
    if (cd "${ui}" && npm install --silent --no-fund --no-audit >&2 && npx vite build >&2); then
      page "${app}/dist/elm/index.html" '<a href="ui/">The Alertmanager UI</a>'
      return
    fi
    log "WARNING: the mantine UI did not build; Alertmanager is built without a web UI"
  fi
  page "${app}/dist/elm/index.html" "Built without its web UI (scripts/build-alertmanager.sh)."
  [[ -f "${app}/dist/mantine/index.html.gz" ]] ||
    page "${app}/dist/mantine/index.html" "Built without its web UI (scripts/build-alertmanager.sh)."
}

build() {
  local src="${cache_root}/alertmanager-src-${version}"
  log "building Alertmanager ${version} and amtool from ${module}@v${version} into ${cache}"
  module_source "${src}" || return 1
  build_ui "${src}"
  rm -rf "${cache}.partial" && mkdir -p "${cache}.partial"
  # The version is stamped as upstream's release builds do (shown by --version and in
  # /api/v2/status).
  (cd "${src}" && GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod go build \
    -ldflags "-X github.com/prometheus/common/version.Version=${version} -X github.com/prometheus/common/version.Branch=go-module" \
    -o "${cache}.partial/" ./cmd/alertmanager ./cmd/amtool >&2) || return 1
  rm -rf "${cache}" && mv "${cache}.partial" "${cache}" && rm -rf "${src}"
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
