#!/usr/bin/env bash
# Installs the Node reference peer (quietly, only when needed) and runs the
# conformance module's tests with the race detector. CI calls this script.
# Set WSIO_SKIP_PEERS=1 to skip the reference-peer tests (and the install).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peer="$here/peers/node"

if [[ "${WSIO_SKIP_PEERS:-}" != "1" ]]; then
  for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "run.sh: $tool is missing; install Node.js 18+ with npm, or set WSIO_SKIP_PEERS=1" >&2
      exit 1
    fi
  done
  want="$(sha256sum "$peer/package-lock.json" | cut -d' ' -f1)"
  stamp="$peer/node_modules/.wsio-lock-sha256"
  if [[ ! -f "$peer/node_modules/ws/package.json" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    (cd "$peer" && npm ci --no-audit --no-fund --silent)
    echo "$want" > "$stamp"
  fi
fi

cd "$here"
go vet ./...
go test -race -count=1 -timeout 15m ./...
