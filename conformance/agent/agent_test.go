package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wsio/wsio/conformance/agent"
	"github.com/wsio/wsio/conformance/suite"
	"github.com/wsio/wsio/internal/wstest"
)

// wantWsio is what wsio must earn: OK on every case, compression families
// included, except the three cases Autobahn itself grades INFORMATIONAL.
func wantWsio(id string) suite.Outcome {
	switch id {
	case "7.1.6", "7.13.1", "7.13.2":
		return suite.Informational
	}
	return suite.OK
}

// check checks rep's n results and writes the report to
// $WSIO_REPORT_DIR when that is set.
func check(t *testing.T, rep *suite.Report, n int) {
	t.Helper()
	checkResults(t, rep, n)
	if dir := os.Getenv("WSIO_REPORT_DIR"); dir != "" {
		if err := suite.WriteReports(filepath.Join(dir, rep.Role+"-"+rep.Agent), rep); err != nil {
			t.Error(err)
		}
	}
}

// checkResults checks that rep has n results, each as wsio should do.
func checkResults(t *testing.T, rep *suite.Report, n int) {
	t.Helper()
	t.Logf("\n%s", suite.Markdown(rep))
	if len(rep.Results) != n {
		t.Fatalf("%d results for %d cases", len(rep.Results), n)
	}
	var bad []string
	for _, r := range rep.Results {
		if want := wantWsio(r.ID); r.Outcome != want {
			bad = append(bad, fmt.Sprintf("%s: %s, want %s: %s (close %s: %s) %v", r.ID, r.Outcome, want, r.Reason, r.BehaviorClose, r.ReasonClose, r.Details))
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("%d cases off:\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

// quick reports whether to trim family 9's sizes (the default in tests;
// WSIO_FULL=1 runs the full sizes).
func quick() bool { return os.Getenv("WSIO_FULL") != "1" }

// TestServer runs every case against examples/echo -deflate, built and
// started as a separate program exactly as a user would run it.
func TestServer(t *testing.T) {
	addr := startEcho(t)
	cases, err := suite.SelectCases(quick(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	rep := &suite.Report{Agent: "wsio", Role: "client", Quick: quick(), Started: time.Now().UTC()}
	rep.Results = suite.RunClient(ctx, "ws://"+addr, cases, suite.RunOptions{Concurrency: 4})
	check(t, rep, len(cases))
}

// TestClient runs every case against the wsio client through the fuzzing
// server, the way cmd/echoclient does.
func TestClient(t *testing.T) {
	cases, err := suite.SelectCases(quick(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reports := make(chan *suite.Report, 1)
	fs := &suite.FuzzServer{Cases: cases, Quick: quick(), OnReports: func(r *suite.Report) { reports <- r }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: fs, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if err := agent.RunFuzzingServer(ctx, "ws://"+ln.Addr().String(), "wsio", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case rep := <-reports:
		rep.Started = time.Now().UTC()
		check(t, rep, len(cases))
	case <-time.After(30 * time.Second):
		t.Fatal("no report from the fuzzing server")
	}
}

// startEcho builds examples/echo with the race detector, starts it with
// -quiet -deflate and args on a free loopback port, and returns its
// address; the test's cleanup stops it and fails on a race or panic it
// logged.
func startEcho(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "echo")
	// The race detector slows the server's compression several times
	// over; the full-size run (the report's) builds it as a user does, as
	// report.sh's run over TCP does, so it fits its time limit.
	build := exec.Command("go", "build", "-race", "-o", bin, "../../examples/echo")
	if !quick() {
		build = exec.Command("go", "build", "-o", bin, "../../examples/echo")
	}
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building examples/echo: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, append([]string{"-addr", addr, "-quiet", "-deflate"}, args...)...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		logs <- b.String()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if out := <-logs; strings.Contains(out, "DATA RACE") || strings.Contains(out, "panic") {
			t.Errorf("examples/echo reported:\n%s", out)
		}
	})
	waitListening(t, addr)
	return addr
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	if !wstest.Poll(30*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("examples/echo did not start listening on %s", addr)
	}
}
