#!/usr/bin/env bash
# Build Prometheus 3.x (prometheus + promtool) from its Go module, web UI compiled in,
# cached by version. Prints the folder holding the binaries.
#
# The module carries web/ui's sources (the mantine UI and its two PromQL modules, a pnpm
# workspace). They are built with pnpm and vite from the npm registry, gzipped into
# web/ui/static by the module's own scripts/compress_assets.sh, and embedded with
# `-tags builtinassets`, as upstream's release builds do. Two caches, each by version:
#   ${PROMKIT_CACHE}/prometheus-ui-<version>/   the built UI (static/mantine-ui)
#   ${PROMKIT_CACHE}/prometheus-<version>-ui/   prometheus and promtool
set -euo pipefail
version="${PROMETHEUS3_VERSION:-3.16.0}"
PNPM_VERSION="10.34.8"
cache_root="${PROMKIT_CACHE:-/var/cache/promkit}"
cache="${cache_root}/prometheus-${version}-ui"
ui_cache="${cache_root}/prometheus-ui-${version}"
IFS=. read -r major minor patch <<<"${version}"
# Prometheus tags its Go module v0.<major*100+minor>.<patch>: 3.16.0 is v0.316.0.
module_version="v0.$((major * 100 + minor)).${patch}"
module="github.com/prometheus/prometheus"

log() { echo "build-prometheus3: $*" >&2; }

# A writable copy of the module's source (the module cache is read-only).
module_source() {  # dest
  local dir
  dir="$(GOFLAGS=-mod=mod go mod download -json "${module}@${module_version}" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "${dir}" ]] || { log "go mod download ${module}@${module_version} gave no folder"; exit 1; }
  rm -rf "$1" && mkdir -p "$(dirname "$1")" && cp -r "${dir}" "$1" && chmod -R u+w "$1"
}

pnpm_bin() {
  local prefix="${cache_root}/pnpm-${PNPM_VERSION}"
  if [[ ! -x "${prefix}/bin/pnpm" ]]; then
    log "installing pnpm ${PNPM_VERSION} from the npm registry into ${prefix}"
    npm install --silent --no-fund --no-audit --global --prefix "${prefix}" "pnpm@${PNPM_VERSION}" >&2
  fi
  echo "${prefix}/bin"
}

# The registry here lacks the one tarball the lockfile pins for @mantine/code-highlight
# (9.7.2: 404, while 9.6.2 is served): pin that one package to 9.6.2 and let pnpm
# re-resolve only what that changes.
pin_unserved_packages() {  # workspace file
  cat >>"$1" <<'EOF'
overrides:
  "@mantine/code-highlight": "9.6.2"
EOF
}

build_ui() {  # source dir -> ${ui_cache}/mantine-ui
  local ui="$1/web/ui" path
  path="$(pnpm_bin):${PATH}"
  pin_unserved_packages "${ui}/pnpm-workspace.yaml"
  log "installing the UI's npm dependencies (pnpm)"
  (cd "${ui}" && PATH="${path}" CI=true pnpm install --no-frozen-lockfile --reporter=append-only >&2)
  # --mantine-ui builds the two PromQL modules, then the UI (--all would also build the
  # old react-app, which is not part of the workspace).
  log "building the web UI (vite)"
  (cd "${ui}" && PATH="${path}" CI=true bash build_ui.sh --mantine-ui >&2)
  rm -rf "${ui_cache}.partial" && mkdir -p "${ui_cache}.partial"
  cp -r "${ui}/static/mantine-ui" "${ui_cache}.partial/mantine-ui"
  rm -rf "${ui_cache}" && mv "${ui_cache}.partial" "${ui_cache}"
}

build_binaries() {  # source dir -> ${cache}
  local src="$1"
  rm -rf "${src}/web/ui/static" && mkdir -p "${src}/web/ui/static"
  cp -r "${ui_cache}/mantine-ui" "${src}/web/ui/static/mantine-ui"
  (cd "${src}" && bash scripts/compress_assets.sh >&2)
  log "building prometheus and promtool with the UI embedded (go build -tags builtinassets)"
  rm -rf "${cache}.partial" && mkdir -p "${cache}.partial"
  # GOWORK=off: the module's go.work names folders its zip leaves out.
  (cd "${src}" && GOWORK=off CGO_ENABLED=0 GOFLAGS=-mod=mod go build -tags builtinassets \
    -ldflags "-X github.com/prometheus/common/version.Version=${version} -X github.com/prometheus/common/version.Branch=go-module" \
    -o "${cache}.partial/" ./cmd/prometheus ./cmd/promtool >&2)
  rm -rf "${cache}" && mv "${cache}.partial" "${cache}"
}

if [[ ! -x "${cache}/prometheus" || ! -x "${cache}/promtool" ]]; then
  src="${cache_root}/prometheus-src-${version}"
  log "building Prometheus ${version} (${module_version}) with its web UI into ${cache} (first time: several minutes)"
  module_source "${src}"
  [[ -f "${ui_cache}/mantine-ui/index.html" ]] || build_ui "${src}"
  build_binaries "${src}"
  rm -rf "${src}"
fi
echo "${cache}"
