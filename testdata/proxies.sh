#!/usr/bin/env bash
# Installs the proxy servers the proxy tests of package conn run on
# 127.0.0.1, quietly and only what is missing (a second run does nothing):
#   tinyproxy   an HTTP proxy (CONNECT)       Debian package tinyproxy
#   microsocks  a SOCKS5 proxy                Debian package microsocks
# It needs apt-get and root (or sudo -n). The tests in proxy_test.go run
# it once when a proxy is missing; one still missing afterwards fails its
# test (WSIO_SKIP_PEERS=1 skips them instead).
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

missing=()
have tinyproxy || missing+=(tinyproxy)
have microsocks || missing+=(microsocks)
((${#missing[@]})) || exit 0

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
fail() {
  echo "proxies.sh: $*" >&2
  if [[ -s "$log" ]]; then tail -n 40 "$log" >&2; fi
  exit 1
}

# One install at a time, shared with conformance/peers/install.sh (dpkg
# takes one apt-get at a time).
exec 9>"${TMPDIR:-/tmp}/wsio-peers-install.lock"
flock 9

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
  have "$p" || fail "$p is still missing after apt-get install"
done
