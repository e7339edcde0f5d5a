//go:build !linux

package main

import (
	"os/exec"
	"syscall"
)

// The soak program measures memory through /proc and binds 127.0.0.x
// source addresses; elsewhere it still builds but reports zeros.

func raiseNoFile()                                     {}
func noFileLimit() (soft, hard uint64)                 { return 0, 0 }
func procStatus() (rss, hwm int64)                     { return 0, 0 }
func bindNoPort(string, string, syscall.RawConn) error { return nil }
func cpuTime() int64                                   { return 0 }
func dieWithParent(*exec.Cmd)                          {}
