//go:build !linux

package main

import "syscall"

// The benchmark measures memory through /proc; elsewhere it still runs
// but reports zeros.

func raiseNoFile()                                     {}
func noFileLimit() (soft, hard uint64)                 { return 0, 0 }
func procStatus() (rss, hwm int64)                     { return 0, 0 }
func bindNoPort(string, string, syscall.RawConn) error { return nil }

func cpuTime() int64 { return 0 }
