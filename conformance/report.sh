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
