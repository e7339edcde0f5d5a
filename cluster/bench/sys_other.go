//go:build !linux

package main

import (
	"net"
	"os/exec"
	"time"
)

// raiseNoFile does nothing here; the bench's figures assume Linux.
func raiseNoFile() uint64 { return 0 }

// cpuTime is not measured here.
func cpuTime() int64 { return 0 }

func dieWithParent(*exec.Cmd) {}

func loadAvg() string { return "?" }

// newDialer returns a plain dialer: other systems may have only 127.0.0.1.
func newDialer() *net.Dialer { return &net.Dialer{Timeout: 15 * time.Second} }
