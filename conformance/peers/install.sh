#!/usr/bin/env bash
# Installs the reference peers of the conformance and interop tests, quietly
# and only what is missing (a second run does nothing):
#   npm (from the committed package-lock.json files, `npm ci`):
#     peers/node              ws
#     peers/nodejs-websocket  nodejs-websocket
#     peers/chromium          playwright-core (it drives Debian's Chromium; no
#                             browser is ever downloaded)
#   Debian (apt-get, as root or through sudo):
#     python3-websockets      for /usr/bin/python3 (not a pyenv python3)
#     chromium                /usr/bin/chromium
#     haproxy                 /usr/sbin/haproxy (HTTP/2 WebSockets through a proxy)
#     tinyproxy               an HTTP proxy (CONNECT), for the proxy tests
#     microsocks              a SOCKS5 proxy, for the proxy tests
#     redis-server            /usr/bin/redis-server (the cluster module's Redis bus)
#     nginx                   /usr/sbin/nginx (the cluster module's balancer tests)
# Node.js 20+ with npm must be installed already. The conformance/interop
# tests run this script once when a peer is missing; a peer that is still
# missing afterwards fails its test (WSIO_SKIP_PEERS=1 skips them instead).
# The main module's tests install nothing; test.sh runs this script first.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# One install at a time, whichever test binary or script started it.
exec 9>"${TMPDIR:-/tmp}/wsio-peers-install.lock"
flock 9

fail() {
  echo "install.sh: $*" >&2
  if [[ -s "$log" ]]; then tail -n 40 "$log" >&2; fi
  exit 1
}

# npm folders: node_modules is current when its stamp holds the hash of
# package-lock.json (the stamp conformance/run.sh and suite/ use too).
for spec in node:ws nodejs-websocket:nodejs-websocket chromium:playwright-core; do
  dir="$here/${spec%%:*}"
  pkg="${spec#*:}"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  stamp="$dir/node_modules/.wsio-lock-sha256"
  if [[ -f "$dir/node_modules/$pkg/package.json" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    continue
  fi
  command -v node >/dev/null 2>&1 || fail "node is missing: install Node.js 20+ with npm"
  command -v npm >/dev/null 2>&1 || fail "npm is missing: install Node.js 20+ with npm"
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent) >"$log" 2>&1 ||
    fail "npm ci in peers/${spec%%:*} failed"
  echo "$want" >"$stamp"
done

# Debian packages.
missing=()
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || missing+=(python3-websockets)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
command -v tinyproxy >/dev/null 2>&1 || missing+=(tinyproxy)
command -v microsocks >/dev/null 2>&1 || missing+=(microsocks)
[[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
[[ -x /usr/sbin/nginx ]] || missing+=(nginx)
if ((${#missing[@]})); then
  command -v apt-get >/dev/null 2>&1 || fail "apt-get is missing; install ${missing[*]} by hand"
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || fail "not root and no sudo; install ${missing[*]} by hand"
    sudo=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Try with the package lists as they are first; update them only if that fails.
  if ! "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >"$log" 2>&1; then
    "${sudo[@]}" apt-get update -qq >"$log" 2>&1 || fail "apt-get update failed"
    "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >"$log" 2>&1 ||
      fail "apt-get install ${missing[*]} failed"
  fi
  for p in tinyproxy microsocks; do
    command -v "$p" >/dev/null 2>&1 || fail "$p is still missing after apt-get install"
  done
  for p in /usr/bin/redis-server /usr/sbin/nginx; do
    [[ -x "$p" ]] || fail "$p is still missing after apt-get install"
  done
fi
