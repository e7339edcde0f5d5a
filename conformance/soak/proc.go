package main

import (
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// The parent and its two children talk in lines (see package proc): a
// child writes "TAG {json}" lines on its stdout (LISTEN, STATS, CONNECTED,
// PROGRESS, HELD, CLOSED, ERROR) and reads one-word commands on its stdin
// (STATS, GO, CLOSE). Its stdin closing tells it to exit.

// childEnv is set in a child's environment, so that a test binary
// re-executed as a child runs the child's code instead of the tests.
const childEnv = "WSIO_SOAK_CHILD"

// startChild runs exe with args and extra environment entries. The kernel
// kills the child when the parent dies, so an interrupted run leaves no
// process holding 18,000 sockets; Stop kills a child that has not exited
// 30 s after its stdin closed.
func startChild(exe, name string, env []string, args ...string) (*proc.Child, error) {
	return proc.Start(exe, proc.Options{
		Name:          name,
		ChildEnv:      childEnv,
		Env:           env,
		DieWithParent: true,
		StderrTail:    8192,
		StopWait:      30 * time.Second,
	}, args...)
}
