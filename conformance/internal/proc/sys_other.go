//go:build !linux

package proc

import (
	"os/exec"
	"syscall"
)

// The programs measure memory through /proc and bind 127.0.0.x source
// addresses; elsewhere they still build but report zeros.

// RaiseNoFile does nothing outside Linux.
func RaiseNoFile() {}

// NoFileLimit returns zeros outside Linux.
func NoFileLimit() (soft, hard uint64) { return 0, 0 }

// BindNoPort does nothing outside Linux.
func BindNoPort(string, string, syscall.RawConn) error { return nil }

// RSS returns zeros outside Linux.
func RSS() (rss, hwm int64) { return 0, 0 }

// CPUTime returns 0 outside Linux.
func CPUTime() int64 { return 0 }

func dieWithParent(*exec.Cmd) {}
