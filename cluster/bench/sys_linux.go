package main

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// raiseNoFile lifts this process's soft RLIMIT_NOFILE to the hard limit
// and returns the limit in force.
func raiseNoFile() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

// cpuTime returns the user + system CPU time this process has used, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// dieWithParent has the kernel kill the child when the parent dies, so an
// interrupted run leaves no process holding thousands of sockets.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// loadAvg returns /proc/loadavg, trimmed, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (Linux ≥ 4.2).
const ipBindAddressNoPort = 24

// numSources is how many client source addresses dials are spread over:
// 127.0.0.10 to 127.0.0.25. With IP_BIND_ADDRESS_NO_PORT the local port
// is chosen at connect, so only the 4-tuple has to be unique and the
// clients do not run out of ephemeral ports however many connections
// (and TIME_WAIT leftovers of earlier setups) there are.
const numSources = 16

var srcSeq atomic.Uint32

// newDialer returns a dialer bound to the next source address.
func newDialer() *net.Dialer {
	i := srcSeq.Add(1)
	return &net.Dialer{
		Timeout:   15 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+i%numSources))},
		Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			})
		},
	}
}
