#!/usr/bin/env bash
# Runs every test of the project: formatting and vet, the main module's
# tests with the race detector (unit, end-to-end over loopback, fuzz seed
# corpora, examples; they need no root, no apt and no network beyond
# loopback), then the conformance module: the Autobahn-family suite against
# the wsio server and client and against Node's ws, interop with real
# peers (other WebSocket implementations and real proxy servers), hostile
# input, and a benchmark smoke run; last the cluster module (fan-out across
# three nodes on NATS and Redis, behind HAProxy and nginx).
# WSIO_SKIP_PEERS=1 skips the tests that need installed peers.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

unformatted=$(gofmt -l $(git ls-files -co --exclude-standard -- '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*'))
if [[ -n "$unformatted" ]]; then
  echo "gofmt: not formatted:" >&2; echo "$unformatted" >&2; exit 1
fi
go vet ./...

# The peers the conformance tests run against (Node ws and
# nodejs-websocket, Python websockets, Chromium with playwright-core,
# tinyproxy, microsocks), installed up front, quietly, and only when
# missing, so parallel test binaries never race for apt. The main module's
# Chromium upload example test uses them too when they are there.
if [[ "${WSIO_SKIP_PEERS:-}" != "1" ]]; then
  bash conformance/peers/install.sh
fi

go test -race -count=1 -timeout 20m ./...
# What the race detector changes is measured without it: allocations
# (it makes sync.Pool drop buffers) and stack depth (it doubles the stack
# guard). These tests skip under -race.
go test -count=1 -run '^(TestSendAllocs|TestHandlerStack)$' .
(cd conformance && go test -count=1 -run '^TestCodeAllocs$' ./bench)
bash conformance/run.sh
(cd cluster && go vet ./... && go test -race -count=1 -timeout 10m ./...)
