package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/conformance/internal/proc"
)

// TestMain lets the test binary stand in for the soak binary: run
// re-executes os.Executable() with childEnv set for its server and client
// processes.
func TestMain(m *testing.M) {
	if proc.IsChild(childEnv) {
		cfg, err := parseConfig(os.Args[1:], os.Stderr)
		if err != nil {
			proc.EmitError(err)
			os.Exit(2)
		}
		os.Exit(runMain(cfg))
	}
	os.Exit(m.Run())
}

// runSoak runs the whole program (parent and two child processes) with
// args and returns its result, error and Markdown report.
func runSoak(t *testing.T, args ...string) (*result, error, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts client and server processes; skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("measures memory through /proc and binds 127.0.0.x source addresses")
	}
	out := filepath.Join(t.TempDir(), "results.md")
	cfg, err := parseConfig(append(args, "-out", out), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, runErr := run(ctx, cfg, &stdout, &stderr)
	t.Logf("progress:\n%s", stderr.String())
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("no report written: %v (run: %v)", err, runErr)
	}
	if stdout.String() != string(md) {
		t.Errorf("the report on stdout differs from the one in %s", out)
	}
	return res, runErr, string(md)
}

// TestSoakSmall runs the program at a tiny scale through its real code
// path (separate server and client processes, keepalive on, the hold, the
// close and the baseline checks) and fails unless every message came back
// intact and every check passed.
func TestSoakSmall(t *testing.T) {
	res, err, md := runSoak(t, "-conns", "50", "-messages", "500", "-hold", "2s",
		"-keepalive", "500ms", "-keepalive-timeout", "5s", "-grace", "10s", "-sample", "1s")
	if err != nil {
		t.Errorf("run: %v\n%s", err, md)
	}
	if res == nil {
		t.FailNow()
	}
	if res.Lost() != 0 || res.Corrupted() != 0 || res.OK() != 500 {
		t.Errorf("%d ok, %d lost, %d corrupted; want 500, 0, 0", res.OK(), res.Lost(), res.Corrupted())
	}
	for _, want := range []string{"— PASS", "Command (from `conformance/`):", "-conns 50", "Machine:", runtime.Version(),
		"| lost messages | 0 | 0 | ok |", "| corrupted messages | 0 | 0 | ok |", "peak RSS (VmHWM)"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestSoakDetectsFaults proves the checks can fail: the server, told to,
// flips a bit in every 13th echo and drops every 50th message; the run
// must count both, report FAIL and return an error.
func TestSoakDetectsFaults(t *testing.T) {
	res, err, md := runSoak(t, "-conns", "50", "-messages", "300", "-hold", "0s", "-workers", "16",
		"-corrupt-every", "13", "-drop-every", "50", "-echo-timeout", "1s", "-grace", "10s")
	if err == nil {
		t.Errorf("run passed with faults injected:\n%s", md)
	}
	if res == nil {
		t.FailNow()
	}
	if res.Corrupted() == 0 || res.Lost() == 0 {
		t.Errorf("%d corrupted, %d lost; want both above 0:\n%s", res.Corrupted(), res.Lost(), md)
	}
	if res.OK()+res.Corrupted()+res.Lost() != 300 {
		t.Errorf("%d ok + %d corrupted + %d lost != 300", res.OK(), res.Corrupted(), res.Lost())
	}
	for _, want := range []string{"— FAIL", "**FAIL**", "Fault injection on", "corrupted |", "lost |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
