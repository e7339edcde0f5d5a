// Package interop tests wsio against other WebSocket implementations, in
// both roles: Node's ws and nodejs-websocket, Python's websockets, and
// headless Chromium. The peers are small programs under ../peers driven by
// the tests over loopback; see README.md for running and skipping them.
package interop
