package proc

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// RaiseNoFile lifts this process's soft RLIMIT_NOFILE to the hard limit.
func RaiseNoFile() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

// NoFileLimit returns this process's soft and hard RLIMIT_NOFILE.
func NoFileLimit() (soft, hard uint64) {
	var rl syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur, rl.Max
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (Linux ≥ 4.2).
const ipBindAddressNoPort = 24

// BindNoPort is a net.Dialer Control function: with a bound source
// address, it lets connect pick the local port, so ports are shared across
// destinations and source addresses (the 4-tuple rather than the local
// port alone has to be unique).
func BindNoPort(network, address string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
}

// RSS returns VmRSS and VmHWM (peak RSS) of this process in KiB.
func RSS() (rss, hwm int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = kib(v)
		} else if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = kib(v)
		}
	}
	return rss, hwm
}

// CPUTime returns the user + system CPU time this process has used, in ns.
func CPUTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// dieWithParent makes the kernel kill the child when the parent dies, so
// an interrupted run leaves no process holding thousands of sockets.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
