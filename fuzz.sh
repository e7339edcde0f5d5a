#!/usr/bin/env bash
# Runs every fuzz target of the main module for a while each (default 10
# minutes; FUZZTIME=30s ./fuzz.sh for a quick pass). Inputs that make a
# target fail are saved by Go under the package's testdata/fuzz/ folder,
# where `go test` then replays them: commit them with the fix.
# Not part of CI (it is long); the seed corpora run in every `go test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
fuzztime="${FUZZTIME:-10m}"
status=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== $pkg $target ($fuzztime)"
    # Minimizing new inputs can stall the exec counter for long stretches;
    # cap it so the time goes to exploring.
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 3s "$pkg"; then
      status=1
    fi
  done
done
exit $status
