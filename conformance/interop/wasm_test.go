package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/rpc"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsio/wsio"
	"github.com/wsio/wsio/stream"
)

// rootDir is the wsio module, whose js/wasm tests TestWasm runs.
var rootDir = filepath.Join("..", "..")

// wasmTests are the root package's js/wasm tests (browser_js_test.go);
// each must pass, not merely be absent from a run that exits 0.
var wasmTests = []string{
	"TestBrowserText",
	"TestBrowserBinary",
	"TestBrowserCloseCodes",
	"TestBrowserLimits",
	"TestBrowserCancel",
	"TestBrowserUnsupported",
	"TestBrowserNetConnRPC",
	"TestBrowserWebSocketStream",
}

// wasmResult is what peers/chromium/wasm.html's runInterop reports.
type wasmResult struct {
	ExitCode  *int   `json:"exitCode"`
	Output    string `json:"output"`
	UserAgent string `json:"userAgent"`
}

// TestWasm builds the root package's tests for js/wasm (GOOS=js
// GOARCH=wasm go test -c), serves the binary with wasm_exec.js and a page
// that runs it, and the native wsio endpoints the tests talk to (see
// browser_js_test.go), and runs the page in headless Chromium. It fails
// when the build fails, when any wasm test fails or is skipped, and when
// the page does not report within its bound.
func TestWasm(t *testing.T) {
	requirePeer(t, chromiumPeer)
	dir := t.TempDir()
	bin := filepath.Join(dir, "wsio.wasm")
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer bcancel()
	build := exec.CommandContext(bctx, "go", "test", "-c", "-o", bin, ".")
	build.Dir = rootDir
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go test -c: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	wasmExec := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")

	srv := newWasmServer(t)
	mux := http.NewServeMux()
	srv.routes(mux)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(peersDir, "chromium", "wasm.html"))
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, wasmExec) })
	mux.HandleFunc("/wsio.wasm", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bin) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		_ = hs.Close()
		srv.shutdown()
	}()

	argv := []string{"-test.v", "-test.timeout=4m"}
	if run := os.Getenv("WSIO_WASM_RUN"); run != "" {
		// For debugging: run only these wasm tests (the check below
		// then reports the others as not passed).
		argv = append(argv, "-test.run="+run)
	}
	args, _ := json.Marshal(argv)
	page := fmt.Sprintf("http://%s/?args=%s", ln.Addr(), url.QueryEscape(string(args)))
	p := startProc(t, "chromium", chromiumPeer.argv(page, "0", "", "300000"))
	ev := p.wait("result", 320*time.Second)
	var res wasmResult
	if err := json.Unmarshal(ev.Result, &res); err != nil {
		t.Fatalf("result %s: %v", ev.Result, err)
	}
	if err := p.waitExit(20 * time.Second); err != nil {
		t.Errorf("the Chromium driver after the run: %v", err)
	}
	t.Logf("%s; the wasm test binary is %s", res.UserAgent, fileSize(bin))
	failed := res.ExitCode == nil || *res.ExitCode != 0
	lines := strings.Split(res.Output, "\n")
	for _, name := range wasmTests {
		if !containsLine(lines, "--- PASS: "+name+" ") {
			t.Errorf("%s did not pass in the browser", name)
			failed = true
		}
	}
	if failed {
		code := "none"
		if res.ExitCode != nil {
			code = strconv.Itoa(*res.ExitCode)
		}
		t.Errorf("the wasm tests exited with code %s; their output:\n%s", code, res.Output)
	} else {
		t.Logf("the wasm tests' output:\n%s", res.Output)
	}
}

func containsLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), strings.TrimSpace(prefix)+" ") {
			return true
		}
	}
	return false
}

func fileSize(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
}

// Arith is the net/rpc service of the /rpc endpoint; browser_js_test.go
// declares the same types.
type Arith int

// Args are Arith's arguments.
type Args struct {
	A, B int
	Pad  string
}

// Multiply returns A*B plus the length of Pad (which makes calls large).
func (Arith) Multiply(args *Args, reply *int) error {
	*reply = args.A*args.B + len(args.Pad)
	return nil
}

// wasmServer holds the native endpoints of the wasm tests.
type wasmServer struct {
	t       *testing.T
	servers []*wsio.Server
	mu      sync.Mutex
	ended   map[string]string // how each /watch connection ended, by id
	changed chan struct{}     // closed and replaced when ended changes
}

func newWasmServer(t *testing.T) *wasmServer {
	return &wasmServer{t: t, ended: map[string]string{}, changed: make(chan struct{})}
}

func (s *wasmServer) server(o wsio.ServerOptions, h func(c *wsio.Conn)) *wsio.Server {
	ws := wsio.NewServer(o, h)
	s.servers = append(s.servers, ws)
	return ws
}

func (s *wasmServer) shutdown() {
	for _, ws := range s.servers {
		_ = ws.Shutdown(context.Background())
	}
}

// echo sends every message back, binary ones streamed.
func echo(c *wsio.Conn) error {
	ctx := context.Background()
	for {
		m, err := c.Next(ctx)
		if err != nil {
			return err
		}
		if m.Kind == wsio.Text {
			err = c.SendText(ctx, m.Text)
		} else {
			var w *wsio.BinaryWriter
			if w, err = c.BeginBinary(ctx); err == nil {
				if _, err = io.Copy(w, m); err == nil {
					err = w.Close()
				} else {
					_ = w.Close()
				}
			}
		}
		if err != nil {
			return err
		}
	}
}

func (s *wasmServer) routes(mux *http.ServeMux) {
	opts := wsio.ServerOptions{Subprotocols: []string{"wsio.v2"}}
	echoSrv := s.server(opts, func(c *wsio.Conn) { _ = echo(c) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("slow") != "" {
			// Long enough for the page's Dial to be canceled first.
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
				return
			}
		}
		echoSrv.ServeHTTP(w, r)
	})
	mux.Handle("/close", s.server(opts, func(c *wsio.Conn) {
		q := c.Request().URL.Query()
		code, _ := strconv.Atoi(q.Get("code"))
		if _, err := c.Next(context.Background()); err != nil {
			return
		}
		_ = c.Close(wsio.StatusCode(code), q.Get("reason"))
	}))
	mux.Handle("/watch", s.server(opts, func(c *wsio.Conn) {
		err := echo(c)
		var ce *wsio.CloseError
		how := fmt.Sprintf("error %v", err)
		if errors.As(err, &ce) {
			who := "local"
			if ce.Remote {
				who = "peer"
			}
			how = fmt.Sprintf("%s %d %q", who, ce.Code, ce.Reason)
		}
		s.mu.Lock()
		s.ended[c.Request().URL.Query().Get("id")] = how
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}))
	mux.Handle("/report", s.server(opts, func(c *wsio.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		id := c.Request().URL.Query().Get("id")
		for {
			s.mu.Lock()
			how, ok := s.ended[id]
			changed := s.changed
			s.mu.Unlock()
			if ok {
				_ = c.SendText(ctx, how)
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				_ = c.SendText(ctx, "no /watch connection named "+id+" ended")
				return
			}
		}
	}))
	rpcSrv := rpc.NewServer()
	if err := rpcSrv.Register(new(Arith)); err != nil {
		s.t.Fatal(err)
	}
	mux.Handle("/rpc", s.server(opts, func(c *wsio.Conn) {
		rpcSrv.ServeConn(stream.NetConn(c))
	}))
}
