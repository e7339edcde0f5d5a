package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes this machine for a report's header: CPU model, cores,
// RAM, kernel release and Go version, as in "Intel(R) Xeon(R) …, 4 cores,
// 16 GiB RAM, Linux 6.1.0, go1.26.0".
func Machine() string {
	return fmt.Sprintf("%s, %d cores, %s RAM, Linux %s, %s",
		cpuModel(), runtime.NumCPU(), memTotal(), readTrim("/proc/sys/kernel/osrelease"), runtime.Version())
}

// LoadAvg returns the content of /proc/loadavg, trimmed, or "?".
func LoadAvg() string { return readTrim("/proc/loadavg") }

// GitDescribe returns `git describe --always --dirty` of the tree the
// program runs in (a commit, "-dirty" with uncommitted changes), or ""
// when git cannot tell.
func GitDescribe() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// CommandLine is the command a program was run with, for its report:
// goRun (such as "go run ./bench") when it runs through go run or as a
// test binary, else its executable's base name, then args, each quoted
// when it holds a space, tab or quote.
func CommandLine(goRun string, args []string) string {
	prog := goRun
	if exe := os.Args[0]; !strings.Contains(exe, "go-build") && !strings.HasSuffix(exe, ".test") {
		prog = filepath.Base(exe)
	}
	parts := []string{prog}
	for _, a := range args {
		if strings.ContainsAny(a, " \t\"'") {
			a = fmt.Sprintf("%q", a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// readTrim returns a file's trimmed content, or "?".
func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// cpuModel returns the CPU's model name from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// memTotal returns the machine's RAM from /proc/meminfo.
func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			return fmt.Sprintf("%.0f GiB", float64(kib(v))/(1<<20))
		}
	}
	return "?"
}

// kib parses a /proc "1234 kB" value.
func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n
}
