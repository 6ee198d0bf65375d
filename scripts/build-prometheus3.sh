#!/usr/bin/env bash
# Build Prometheus 3.x (prometheus + promtool) from its Go module, cached by version.
# Prints the folder holding the binaries. The Go module build carries no web UI
# assets (the API is complete), so it serves the integration tests, not users.
set -euo pipefail
version="${PROMETHEUS3_VERSION:-3.16.0}"
cache="${PROMKIT_CACHE:-/var/cache/promkit}/prometheus-${version}"
IFS=. read -r major minor patch <<<"${version}"
# Prometheus tags its Go module v0.<major*100+minor>.<patch>: 3.16.0 is v0.316.0.
module_version="v0.$((major * 100 + minor)).${patch}"
if [[ ! -x "${cache}/prometheus" || ! -x "${cache}/promtool" ]]; then
  mkdir -p "${cache}.partial"
  echo "building Prometheus ${version} (${module_version}) into ${cache} (first time: several minutes)" >&2
  GOBIN="${cache}.partial" CGO_ENABLED=0 GOFLAGS=-mod=mod go install \
    -ldflags "-X github.com/prometheus/common/version.Version=${version} -X github.com/prometheus/common/version.Branch=go-module" \
    "github.com/prometheus/prometheus/cmd/prometheus@${module_version}" \
    "github.com/prometheus/prometheus/cmd/promtool@${module_version}" >&2
  rm -rf "${cache}" && mv "${cache}.partial" "${cache}"
fi
echo "${cache}"
