#!/usr/bin/env bash
# Runs every test of the project: formatting and vet, the main module's
# tests with the race detector (unit, end-to-end, fuzz seed corpora,
# examples), then the conformance module: the Autobahn-family suite against
# the wsio server and client, and against Node's ws (installed quietly
# from npm on first use). WSIO_SKIP_PEERS=1 skips the tests that need
# Node peers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

unformatted=$(gofmt -l $(git ls-files -co --exclude-standard -- '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*'))
if [[ -n "$unformatted" ]]; then
  echo "gofmt: not formatted:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m ./...
bash conformance/run.sh
