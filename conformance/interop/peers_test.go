package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsio/wsio/internal/wstest"
)

// peersDir holds the peer programs and install.sh.
var peersDir = filepath.Join("..", "peers")

// systemPython is Debian's python3, which sees python3-websockets (a pyenv
// python3 on PATH does not).
const systemPython = "/usr/bin/python3"

// chromiumPath is Debian's Chromium.
const chromiumPath = "/usr/bin/chromium"

// peer describes one external implementation.
type peer struct {
	name  string
	check func() error                  // nil when everything it needs is installed
	argv  func(args ...string) []string // its command line, given mode and options
	// deflate: it has permessage-deflate (--deflate), so it also runs
	// the deflate roles.
	deflate bool
}

func nodeCheck(pkgDir, pkg string) func() error {
	return func() error {
		if _, err := exec.LookPath("node"); err != nil {
			return fmt.Errorf("node is not on PATH (install Node.js 20+)")
		}
		if _, err := os.Stat(filepath.Join(peersDir, pkgDir, "node_modules", pkg, "package.json")); err != nil {
			return fmt.Errorf("npm package %s is not installed in peers/%s", pkg, pkgDir)
		}
		return nil
	}
}

var (
	wsPeer = &peer{
		name:  "ws",
		check: nodeCheck("node", "ws"),
		argv: func(args ...string) []string {
			return append([]string{"node", filepath.Join(peersDir, "node", "interop-ws.js")}, args...)
		},
		deflate: true,
	}
	nodejsWebsocketPeer = &peer{
		name:  "nodejs-websocket",
		check: nodeCheck("nodejs-websocket", "nodejs-websocket"),
		argv: func(args ...string) []string {
			return append([]string{"node", filepath.Join(peersDir, "nodejs-websocket", "interop-nodejs-websocket.js")}, args...)
		},
	}
	pythonPeer = &peer{
		name: "python-websockets",
		check: func() error {
			if _, err := os.Stat(systemPython); err != nil {
				return fmt.Errorf("%s is missing (Debian package python3)", systemPython)
			}
			out, err := exec.Command(systemPython, "-c", "import websockets").CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s cannot import websockets (Debian package python3-websockets): %v: %s",
					systemPython, err, bytes.TrimSpace(out))
			}
			return nil
		},
		argv: func(args ...string) []string {
			return append([]string{systemPython, filepath.Join(peersDir, "python", "interop_websockets.py")}, args...)
		},
		deflate: true,
	}
	chromiumPeer = &peer{
		name: "chromium",
		check: func() error {
			if _, err := os.Stat(chromiumPath); err != nil {
				return fmt.Errorf("%s is missing (Debian package chromium)", chromiumPath)
			}
			return nodeCheck("chromium", "playwright-core")()
		},
		argv: func(args ...string) []string {
			return append([]string{"node", filepath.Join(peersDir, "chromium", "run.js")}, args...)
		},
	}
)

var (
	installOnce sync.Once
	installErr  error
)

// requirePeer makes sure p is installed, running peers/install.sh once per
// test binary when it is not. A peer that cannot be had fails the test,
// unless WSIO_SKIP_PEERS=1 asks to skip.
func requirePeer(t *testing.T, p *peer) {
	t.Helper()
	if os.Getenv("WSIO_SKIP_PEERS") == "1" {
		t.Skipf("WSIO_SKIP_PEERS=1: interop test with %s skipped", p.name)
	}
	if p.check() == nil {
		return
	}
	installOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(peersDir, "install.sh"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			installErr = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
	})
	if err := p.check(); err != nil {
		t.Fatalf("interop peer %s is missing: %v (conformance/peers/install.sh: %v); "+
			"install it, or set WSIO_SKIP_PEERS=1 to skip the interop tests", p.name, err, installErr)
	}
}

// event is one JSON line a peer printed.
type event struct {
	Event      string          `json:"event"`
	Port       int             `json:"port"`
	Protocol   string          `json:"protocol"`
	Extensions string          `json:"extensions"`
	Code       *int            `json:"code"`
	Sent       *int            `json:"sent"` // Python: the code it sent
	Reason     string          `json:"reason"`
	Message    string          `json:"message"`
	Version    string          `json:"version"`
	Text       string          `json:"text"`
	Result     json.RawMessage `json:"result"`
	raw        string
}

// proc is a running peer program.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	events chan event
	stderr *wstest.Buffer // the process's stderr
	exited chan struct{}
	werr   error
}

// startProc runs argv in its own process group, which is killed at the end
// of the test if it is still running.
func startProc(t *testing.T, name string, argv []string) *proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1", "PYTHONUNBUFFERED=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: stdout pipe: %v", name, err)
	}
	p := &proc{t: t, name: name, cmd: cmd, events: make(chan event, 256), stderr: &wstest.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s): %v", name, strings.Join(argv, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Text()
			var ev event
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				ev = event{Event: "stdout"}
			}
			ev.raw = line
			select {
			case p.events <- ev:
			default: // nobody is listening; drop
			}
		}
		p.werr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-p.exited:
			case <-time.After(10 * time.Second):
				t.Errorf("%s (pid %d) did not exit after SIGKILL", name, cmd.Process.Pid)
			}
		}
		if t.Failed() {
			if s := p.stderr.String(); s != "" {
				t.Logf("%s stderr:\n%s", name, s)
			}
		}
	})
	return p
}

// wait returns the next event named name, logging the others it passes.
func (p *proc) wait(name string, timeout time.Duration) event {
	p.t.Helper()
	ev, err := p.waitErr(name, timeout)
	if err != nil {
		p.t.Fatal(err)
	}
	return ev
}

func (p *proc) waitErr(name string, timeout time.Duration) (event, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-p.events:
			if ev.Event == name {
				return ev, nil
			}
			p.t.Logf("%s: %s", p.name, ev.raw)
		case <-p.exited:
			// Drain what it printed before exiting.
			for {
				select {
				case ev := <-p.events:
					if ev.Event == name {
						return ev, nil
					}
					p.t.Logf("%s: %s", p.name, ev.raw)
				default:
					return event{}, fmt.Errorf("%s exited (%v) before %q; stderr:\n%s", p.name, p.werr, name, p.stderr.String())
				}
			}
		case <-deadline.C:
			return event{}, fmt.Errorf("%s: no %q event within %v; stderr:\n%s", p.name, name, timeout, p.stderr.String())
		}
	}
}

// waitExit waits for the process to end by itself.
func (p *proc) waitExit(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.werr
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}
