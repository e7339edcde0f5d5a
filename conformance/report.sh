#!/usr/bin/env bash
# Runs the conformance suite at full size against the wsio server
# (examples/echo) and the wsio client, writes the reports under
# conformance/reports/, and regenerates the tables in the README.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
rm -rf reports/client-wsio reports/server-wsio
WSIO_FULL=1 WSIO_REPORT_DIR="$here/reports" go test -count=1 -run 'TestServer|TestClient' ./agent/
go run ./cmd/readme -readme ../README.md \
  -section conformance-server=reports/client-wsio/index.md \
  -section conformance-client=reports/server-wsio/index.md
echo "reports in $here/reports; README tables updated"

# The hostile-input report and the last benchmark results.
WSIO_HOSTILE_REPORT="$here/reports/hostile.md" go test -count=1 ./hostile/
go run ./cmd/readme -readme ../README.md -whole -section hostile=reports/hostile.md
go run ./cmd/readme -readme ../README.md -whole -demote 2 -section bench=bench/results.md
go run ./cmd/readme -readme ../README.md -whole -demote 2 -section bench-deflate=bench/results-deflate.md
