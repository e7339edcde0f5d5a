// Package interop tests wsio against other WebSocket implementations, in
// both roles: Node's ws and nodejs-websocket, Python's websockets, and
// headless Chromium; and the wsio client through real proxy servers
// (tinyproxy, microsocks). The peers are small programs under ../peers, or
// Debian packages, driven by the tests over loopback; see README.md for
// running and skipping them.
package interop
