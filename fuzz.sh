#!/usr/bin/env bash
# Runs every fuzz target of the main module for a while each (default 10
# minutes; FUZZTIME=30s ./fuzz.sh for a quick pass). Inputs that make a
# target fail are saved by Go under the package's testdata/fuzz/ folder,
# where `go test` then replays them: commit them with the fix.
#
# The inputs the fuzzer found interesting (new coverage) live in Go's cache;
# with COLLECT=1 they are copied into testdata/fuzz/<target>/ after each
# target, so the committed corpus grows with every long run and `go test`
# replays it. FUZZPARALLEL sets the worker count (default: all cores).
# Not part of CI (it is long); the seed corpora run in every `go test`.
#
# The targets, found with `go test -list`, live next to the code they test:
#   .                    FuzzServerConn, FuzzClientConn, FuzzDeflateConn
#                        (whole connections driven by a byte stream)
#   ./internal/handshake FuzzParseResponseHead, FuzzHeaderTokens,
#                        FuzzParseUpgradeHead (HTTP heads, header grammar)
#   ./internal/deflate   FuzzExtensions (permessage-deflate negotiation)
#   ./conn               FuzzParseHeader, FuzzMask
#   ./textframe          FuzzValidator, FuzzAssembler
#   ./cluster (a module of its own)
#                        FuzzClientIP (forwarding headers), FuzzBusMessage
# Package patterns as arguments fuzz only those packages' targets, e.g.
# `FUZZTIME=1m ./fuzz.sh ./internal/...` (the main module's); the default
# is every package of both modules.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
fuzztime="${FUZZTIME:-10m}"
par=()
if [[ -n "${FUZZPARALLEL:-}" ]]; then par=(-parallel "$FUZZPARALLEL"); fi
cache="$(go env GOCACHE)/fuzz"
status=0
# fuzz dir patterns...: every target of the packages of the module in dir.
fuzz() {
  local dir="$1"
  shift
  for pkg in $(cd "$dir" && go list "$@"); do
    for target in $(cd "$dir" && go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
      echo "== $pkg $target ($fuzztime) $(date -u +%H:%M:%S)"
      # Minimizing new inputs can stall the exec counter for long stretches;
      # cap it so the time goes to exploring.
      if ! (cd "$dir" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 3s "${par[@]}" "$pkg"); then
        status=1
      fi
      if [[ "${COLLECT:-}" == 1 && -d "$cache/$pkg/$target" ]]; then
        local corpus
        corpus="$(cd "$dir" && go list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$target"
        mkdir -p "$corpus"
        cp -n "$cache/$pkg/$target"/* "$corpus"/ 2>/dev/null || true
        echo "   corpus: $(ls "$corpus" | wc -l) files in ${corpus#$PWD/}"
      fi
    done
  done
}
if [[ $# -gt 0 ]]; then
  fuzz . "$@"
else
  fuzz . ./...
  fuzz cluster ./...
fi
exit $status
