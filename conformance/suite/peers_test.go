package suite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// nodeDir is the folder of the Node reference peers.
var nodeDir = filepath.Join("..", "peers", "node")

var (
	nodeOnce sync.Once
	nodeErr  error
)

// requirePeers skips when WSIO_SKIP_PEERS=1 and otherwise fails the test
// when node, npm or the ws package cannot be had.
func requireNodePeers(t *testing.T) string {
	t.Helper()
	if os.Getenv("WSIO_SKIP_PEERS") == "1" {
		t.Skip("WSIO_SKIP_PEERS=1: reference peer tests skipped")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing (install Node.js 18+ or set WSIO_SKIP_PEERS=1): %v", err)
	}
	nodeOnce.Do(func() { nodeErr = installNodePeers() })
	if nodeErr != nil {
		t.Fatalf("installing the Node ws peer failed (set WSIO_SKIP_PEERS=1 to skip): %v", nodeErr)
	}
	return node
}

// installNodePeers runs `npm ci` when node_modules is missing or older than
// package-lock.json. A stamp file records the lock file's hash.
func installNodePeers() error {
	lock, err := os.ReadFile(filepath.Join(nodeDir, "package-lock.json"))
	if err != nil {
		return fmt.Errorf("reading package-lock.json: %w", err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(nodeDir, "node_modules", ".wsio-lock-sha256")
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "ws", "package.json")); err == nil {
			return nil
		}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("npm is missing: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--silent")
	cmd.Dir = nodeDir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm ci: %w: %s", err, out.String())
	}
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing install stamp: %w", err)
	}
	return nil
}

// startNodeEchoServer starts ws-echo-server.js on a free loopback port and
// returns its ws:// URL; the process is killed at the end of the test. args
// are extra arguments such as --deflate.
func startNodeEchoServer(t *testing.T, node string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, append([]string{"ws-echo-server.js", "0"}, args...)...)
	cmd.Dir = nodeDir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatalf("stdout pipe: %v", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting node echo server: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		port, ok := strings.CutPrefix(line, "listening ")
		if !ok {
			t.Fatalf("unexpected output from echo server: %q", line)
		}
		return "ws://127.0.0.1:" + port
	case <-time.After(15 * time.Second):
		t.Fatalf("node echo server did not start: %s", stderr.String())
	}
	return ""
}

// expectedAgainstWS is what Node's ws earns on every case: OK except the
// listed cases. ws validates UTF-8 only once a message is complete, so the
// fail-fast cases 6.4.* are NON-STRICT; 7.1.6 and 7.13.* are informational
// by design of the catalogue. With permessage-deflate off (these tests), 12.*
// and 13.* are UNIMPLEMENTED; deflate_peers_test.go runs them with it on.
func expectedAgainstWS() map[string]Outcome {
	return map[string]Outcome{
		"6.4.1": NonStrict, "6.4.2": NonStrict, "6.4.3": NonStrict, "6.4.4": NonStrict,
		"7.1.6": Informational, "7.13.1": Informational, "7.13.2": Informational,
	}
}

// checkOutcomes asserts that every result has the outcome in want, or OK
// (UNIMPLEMENTED for 12.* and 13.*) when the case is not in want, and that
// every case in want was run.
func checkOutcomes(t *testing.T, results []*Result, want map[string]Outcome) {
	t.Helper()
	seen := map[string]bool{}
	var bad []string
	for _, r := range results {
		seen[r.ID] = true
		exp, ok := want[r.ID]
		if !ok {
			exp = OK
			if f := familyOf(r.ID); f == "12" || f == "13" {
				exp = Unimplemented
			}
		}
		if r.Outcome != exp {
			bad = append(bad, fmt.Sprintf("%s: got %s, want %s (%s; close %s: %s; details %v)",
				r.ID, r.Outcome, exp, r.Reason, r.BehaviorClose, r.ReasonClose, r.Details))
		}
	}
	for id := range want {
		if !seen[id] {
			bad = append(bad, id+": not run")
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Errorf("%d unexpected outcomes:\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

// logSummary prints the Markdown summary into the test log.
func logSummary(t *testing.T, rep *Report) {
	t.Helper()
	t.Logf("\n%s", Markdown(rep))
}

func TestNodeWSServer(t *testing.T) {
	node := requireNodePeers(t)
	url := startNodeEchoServer(t, node)
	cases, err := SelectCases(true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep := &Report{Agent: "node-ws", Role: "client", Quick: true}
	rep.Results = RunClient(ctx, url, cases, RunOptions{Concurrency: 8})
	logSummary(t, rep)
	if len(rep.Results) != len(cases) {
		t.Fatalf("got %d results for %d cases", len(rep.Results), len(cases))
	}
	checkOutcomes(t, rep.Results, expectedAgainstWS())
	if err := WriteReports(t.TempDir(), rep); err != nil {
		t.Fatalf("writing reports: %v", err)
	}
}

// startFuzzServer serves cases on a free loopback port and returns its base
// URL and a channel that receives the report of /updateReports.
func startFuzzServer(t *testing.T, cases []*Case) (string, <-chan *Report) {
	t.Helper()
	reports := make(chan *Report, 1)
	fs := &FuzzServer{Cases: cases, Quick: true, OnReports: func(rep *Report) {
		select {
		case reports <- rep:
		default:
		}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: fs, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "ws://" + ln.Addr().String(), reports
}

func TestNodeWSClient(t *testing.T) {
	node := requireNodePeers(t)
	cases, err := SelectCases(true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	base, reports := startFuzzServer(t, cases)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// --no-deflate: the client makes no permessage-deflate offer, so 12.*
	// and 13.* are UNIMPLEMENTED here (deflate_peers_test.go runs them).
	cmd := exec.CommandContext(ctx, node, "ws-echo-client.js", base, "node-ws", "--no-deflate")
	cmd.Dir = nodeDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ws-echo-client.js: %v\n%s", err, out)
	}
	var rep *Report
	select {
	case rep = <-reports:
	case <-time.After(10 * time.Second):
		t.Fatalf("no report after the client finished; client output:\n%s", out)
	}
	logSummary(t, rep)
	if len(rep.Results) != len(cases) {
		t.Fatalf("got %d results for %d cases", len(rep.Results), len(cases))
	}
	checkOutcomes(t, rep.Results, expectedAgainstWS())
}
