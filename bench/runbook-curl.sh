#!/usr/bin/env bash
# The runbook's way of checking a Prometheus: one sequential curl per endpoint,
# then one per documented query. Usage: runbook-curl.sh URL [QUERY ...]
set -euo pipefail
url="$1"; shift
for path in /-/healthy /-/ready /api/v1/status/buildinfo /api/v1/status/runtimeinfo \
            /api/v1/status/flags /api/v1/status/config /api/v1/targets /; do
  curl -fsS -L -o /dev/null "${url}${path}"
done
for query in "$@"; do
  curl -fsS -o /dev/null --get --data-urlencode "query=${query}" "${url}/api/v1/query"
done
