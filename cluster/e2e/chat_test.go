package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// The Chromium driver beside the interop tests' (it uses their
// playwright-core and Debian's Chromium, which install.sh provides).
var (
	chromiumDir    = filepath.Join("..", "..", "conformance", "peers", "chromium")
	chromiumPath   = "/usr/bin/chromium"
	playwrightPath = filepath.Join(chromiumDir, "node_modules", "playwright-core", "package.json")
)

// chatEvent is one JSON line of chat.js.
type chatEvent struct {
	Event   string `json:"event"`
	Name    string `json:"name"`
	Users   string `json:"users"`
	From    string `json:"from"`
	On      string `json:"on"`
	Message string `json:"message"`
	Result  struct {
		Users map[string]string `json:"users"`
	} `json:"result"`
}

// TestChromiumChat: the cluster chat example (cluster/examples/chat), built
// and run as two processes on an embedded nats-server, and headless
// Chromium with one page on each node: each page joins, types a line, and
// the line shows on both pages; the page on the second node is welcomed
// with the first page's member too. Chromium, Node.js or playwright-core
// missing fails the test (WSIO_SKIP_PEERS=1 skips it).
func TestChromiumChat(t *testing.T) {
	t.Parallel()
	requireProgram(t, chromiumPath)
	requireProgram(t, playwrightPath)
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing (Node.js 20+ drives Chromium): %v; install it, or set WSIO_SKIP_PEERS=1 to skip", err)
	}

	bin := filepath.Join(t.TempDir(), "chat")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "../examples/chat")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ../examples/chat: %v\n%s", err, out)
	}

	nats := startNATS(t)
	var urls []string
	for range 2 {
		addr := freeAddr(t)
		p := startProc(t, bin, "-addr", addr, "-nats", nats.url())
		waitListening(t, p, addr)
		urls = append(urls, "http://"+addr+"/")
	}

	names := []string{"ann", "bob"}
	driver := startProc(t, nodeBin, filepath.Join(chromiumDir, "chat.js"), strings.Join(urls, ","), strings.Join(names, ","), "60000")
	select {
	case <-driver.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("chat.js did not finish in 90 s:\n%s", driver.out.String())
	}
	var events []chatEvent
	var result *chatEvent
	for _, line := range strings.Split(driver.out.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e chatEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("chat.js printed %q: %v", line, err)
			continue
		}
		switch e.Event {
		case "error":
			t.Errorf("chat.js: %s", e.Message)
		case "result":
			result = &e
		}
		events = append(events, e)
	}
	if result == nil {
		t.Fatalf("chat.js gave no result (exit %v):\n%s", driver.cmd.ProcessState, driver.out.String())
	}
	seen := map[string]bool{}
	for _, e := range events {
		if e.Event == "seen" {
			seen[e.From+">"+e.On] = true
		}
	}
	for _, from := range names {
		for _, on := range names {
			if !seen[from+">"+on] {
				t.Errorf("the line typed by %s did not show on %s's page", from, on)
			}
		}
	}
	for _, n := range names {
		if got, want := result.Result.Users[n], "Here: ann, bob"; got != want {
			t.Errorf("%s's page lists %q, want %q", n, got, want)
		}
	}
	if t.Failed() {
		t.Logf("chat.js output:\n%s", driver.out.String())
	} else {
		t.Logf("%d events from chat.js; pages on %v", len(events), urls)
	}
}
