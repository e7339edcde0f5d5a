// Package e2e holds the cluster module's end-to-end tests: wsio nodes
// with cluster.Hubs on an embedded nats-server or a redis-server, behind
// HAProxy and nginx, all started by the tests on loopback, and headless
// Chromium on the chat example (conformance/peers/chromium/chat.js). It
// has no code of its own.
package e2e
