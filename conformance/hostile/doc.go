// Package hostile holds wsio's hostile-input and fault tests: a raw-socket
// attacker (hand-written HTTP heads and frames) against a wsio server
// served by Server.Serve on a loopback listener, and a raw server against
// the wsio client. Every test asserts the exact outcome — the HTTP status
// or close code on the wire, the error the wsio side saw, heap growth and
// goroutines left behind.
//
// Run:
//
//	cd conformance && go test -race ./hostile/...
//
// With WSIO_HOSTILE_REPORT=FILE set, the run also writes a Markdown table
// of what was tried and what happened to FILE.
package hostile
