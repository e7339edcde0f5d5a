#!/usr/bin/env bash
# Regenerates the committed reports of the conformance module, and the
# README's summary tables from them:
#
#   reports/client-wsio/index.md  the suite, full size, against the wsio server (examples/echo -deflate)
#   reports/server-wsio/index.md  the suite, full size, against the wsio client (cmd/echoclient)
#   reports/client-wsio-h2/index.md, reports/server-wsio-h2/index.md
#                                 the same over HTTP/2 (RFC 8441; go test -run TestHTTP2 ./agent/)
#   reports/interop.md            interop with real peers (go test ./interop/)
#   reports/hostile.md            hostile input (go test -race ./hostile/)
#   reports/wasm-size.md          js/wasm size of a minimal client, wsio and coder/websocket (cmd/wasmsize)
#   ../README.md                  the summaries of those, of soak/results*.md and of
#                                 bench/results*.md (the soak and the benchmark write
#                                 their own reports; conformance/README.md says how)
#
# WSIO_REPORT_STEPS picks steps (default: conformance,h2,interop,hostile,wasmsize,readme).
# The interop step installs the peers first (peers/install.sh). Every step
# runs even when one fails; the script then exits 1.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
steps=",${WSIO_REPORT_STEPS:-conformance,h2,interop,hostile,wasmsize,readme},"
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
status=0
failed() { echo "report.sh: $*" >&2; status=1; }
mkdir -p reports

# free_port prints a loopback port nothing listens on.
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

if [[ "$steps" == *,conformance,* ]]; then
  echo "== conformance suite, full size, both roles" >&2
  go build -o "$tmp/echo" ../examples/echo &&
    go build -o "$tmp/fuzzclient" ./cmd/fuzzclient &&
    go build -o "$tmp/fuzzserver" ./cmd/fuzzserver &&
    go build -o "$tmp/echoclient" ./cmd/echoclient || failed "building the conformance commands"

  # wsio as a server: examples/echo, exactly as a user runs it.
  port="$(free_port)" || failed "no free port"
  "$tmp/echo" -addr "127.0.0.1:$port" -quiet -deflate 2>"$tmp/echo.log" &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  rm -rf reports/client-wsio
  "$tmp/fuzzclient" -url "ws://127.0.0.1:$port" -agent wsio -out reports/client-wsio >"$tmp/server.md" ||
    failed "the wsio server did not pass every case (reports/client-wsio/index.md)"
  kill "${pids[-1]}" 2>/dev/null

  # wsio as a client: the fuzzing server serves the cases to cmd/echoclient.
  rm -rf reports/server-wsio
  "$tmp/fuzzserver" -addr 127.0.0.1:0 -out reports/server-wsio >"$tmp/client.md" 2>"$tmp/fuzzserver.log" &
  fs=$!
  pids+=($fs)
  url=""
  for _ in $(seq 100); do
    url="$(sed -n 's/^fuzzserver: serving .* on \(ws:.*\)$/\1/p' "$tmp/fuzzserver.log")"
    [[ -n "$url" ]] && break
    sleep 0.1
  done
  "$tmp/echoclient" -url "$url" -agent wsio || failed "echoclient: exit status $?"
  wait "$fs" || failed "the wsio client did not pass every case (reports/server-wsio/index.md)"
fi

if [[ "$steps" == *,h2,* ]]; then
  # Both roles again over HTTP/2: the agent test writes the reports.
  echo "== conformance suite over HTTP/2, full size, both roles" >&2
  rm -rf reports/client-wsio-h2 reports/server-wsio-h2
  WSIO_FULL=1 WSIO_REPORT_DIR="$here/reports" go test -count=1 -timeout 30m -run '^TestHTTP2$' ./agent/ >"$tmp/h2.log" 2>&1 ||
    { tail -n 40 "$tmp/h2.log" >&2; failed "wsio over HTTP/2 did not pass every case (reports/*-wsio-h2/index.md)"; }
fi

if [[ "$steps" == *,interop,* ]]; then
  echo "== interop with real peers" >&2
  bash peers/install.sh || failed "installing the peers"
  go test -json -count=1 -timeout 30m ./interop/ >"$tmp/interop.json"
  test_status=$?
  go run ./cmd/readme interop -in "$tmp/interop.json" -out reports/interop.md || failed "writing reports/interop.md"
  ((test_status == 0)) || failed "interop tests failed (reports/interop.md)"
fi

if [[ "$steps" == *,hostile,* ]]; then
  echo "== hostile input" >&2
  WSIO_HOSTILE_REPORT="$tmp/hostile.md" go test -race -count=1 -timeout 30m ./hostile/ >"$tmp/hostile.log" 2>&1 ||
    { tail -n 40 "$tmp/hostile.log" >&2; failed "hostile tests failed (reports/hostile.md)"; }
  if [[ -s "$tmp/hostile.md" ]]; then
    go run ./cmd/readme hostile -in "$tmp/hostile.md" -out reports/hostile.md || failed "writing reports/hostile.md"
  else
    failed "the hostile tests wrote no report"
  fi
fi

if [[ "$steps" == *,wasmsize,* ]]; then
  go run ./cmd/wasmsize >/dev/null || failed "cmd/wasmsize failed"
fi

if [[ "$steps" == *,readme,* ]]; then
  echo "== README summaries" >&2
  go run ./cmd/readme readme -readme ../README.md -root .. || failed "updating README.md"
  go run ./cmd/readme links ../README.md ../docs/*.md README.md reports/*.md || failed "a link in the Markdown is broken"
fi

((status == 0)) && echo "reports in $here/reports; README.md updated" >&2
exit "$status"
